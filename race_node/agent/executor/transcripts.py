"""Who may read a transcript: the executor's check of a verifier's request
(docs/verification.md, "The check").

Transcripts hold developers' prompts. The executor hands one only to an account with
voting weight now (the verifiers, and the voters of a dispute), and only when the request
carries that account's signature over
:func:`race_protocol.verification.access.transcript_request_bytes`, checked against the
account's public key on chain. A weighted account's key is read once per block.
"""

from __future__ import annotations

import asyncio

from race_node.inference.view import ChainUnavailable, ChainView
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import verify_signature
from race_protocol.verification.access import transcript_request_bytes


class TranscriptRefused(Exception):
    """The caller may not read this transcript; the message says why."""


class VerifierKeys:
    """Weighted accounts and their public keys, as of the chain view's latest block."""

    def __init__(self, view: ChainView) -> None:
        self.view = view
        self._height = -1
        self._weighted: set[str] = set()
        self._keys: dict[str, bytes] = {}

    async def _refresh(self) -> None:
        if self._height == self.view.height and self._height >= 0:
            return
        try:
            validators = await asyncio.to_thread(self.view.queries.validators)
        except Exception as away:  # the node's RPC: a refusal here is not the caller's fault
            raise ChainUnavailable(str(away)) from away
        self._weighted = {v.operator for v in validators if v.operator and v.power > 0}
        self._keys = {a: k for a, k in self._keys.items() if a in self._weighted}
        self._height = self.view.height

    async def public_key(self, account: str) -> bytes:
        """The weighted ``account``'s public key; TranscriptRefused when it has no weight."""
        await self._refresh()
        if account not in self._weighted:
            raise TranscriptRefused(f"{account} has no voting weight: only verifiers read "
                                    "transcripts")
        key = self._keys.get(account)
        if key is None:
            try:
                found = await asyncio.to_thread(self.view.queries.account, account)
            except Exception as away:
                raise ChainUnavailable(str(away)) from away
            if found is None or not found.public_key:
                raise TranscriptRefused(f"{account} has no public key on chain yet")
            key = self._keys[account] = bytes.fromhex(found.public_key)
        return key


async def check_transcript_request(keys: VerifierKeys, chain_id: str,
                                   request: pb.TranscriptRequest) -> None:
    """Return when ``request`` may be answered; TranscriptRefused if not."""
    public_key = await keys.public_key(request.verifier)
    signed = transcript_request_bytes(chain_id, request.ticket_height,
                                      bytes(request.request_id), request.verifier)
    if not verify_signature(public_key, bytes(request.signature), signed):
        raise TranscriptRefused(f"the request is not signed by {request.verifier}'s key")
