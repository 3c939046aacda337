"""What a verifier signs to fetch a transcript from an executor (docs/verification.md,
"The check").

Transcripts hold developers' prompts, so an executor hands one only to a node with voting
weight (the verifiers and the voters of a dispute), and only when the request carries that
node's signature over these bytes: the chain id, the task (ticket height and request id)
and the verifier's account. The executor checks the signature against the account's public
key on chain.
"""

from __future__ import annotations

TRANSCRIPT_DOMAIN = b"race/v1/verification/transcript-request\x00"


def transcript_request_bytes(chain_id: str, ticket_height: int, request_id: bytes,
                             verifier: str) -> bytes:
    """The bytes a verifier signs to ask for one task's transcript."""
    chain, account = chain_id.encode("utf-8"), verifier.encode("utf-8")
    return (TRANSCRIPT_DOMAIN + len(chain).to_bytes(2, "big") + chain
            + ticket_height.to_bytes(8, "big") + request_id
            + len(account).to_bytes(2, "big") + account)
