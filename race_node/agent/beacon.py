"""The beacon duty: a participant's part in every round (whitepaper Appendix B;
docs/beacon.md, "The agent's duty").

On each height the duty reads the round in progress and does what its window asks of this
operator, at most once per round (each tx keyed in the broadcast journal):

* no key on chain yet (or a different one): register the encryption key, once the
  operator has voting weight (a new key counts from the next round);
* commit window, no deal yet: draw a secret, write it to the node home, then deal it;
* reveal window, dealt: reveal the secret;
* recovery window: decrypt and post this operator's shares of every withheld secret.

The encryption key and the round secrets live in ``HOME/agent/beacon/`` (0700, files
0600). A secret is written before its deal is sent, so a crash between the two still lets
the agent reveal; a secret's file is removed a few rounds later.

``withhold_reveal`` is a test switch (tests/faults/withholding_agent.py): the duty deals
and then never reveals, as a node that goes silent after dealing would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abci_app.modules.beacon.errors import ROUND_NOT_FOUND
from race_node.agent.duties import AgentServices, BlockContext, BlockHandler
from race_node.client.broadcast import Submission
from race_node.client.queries import ChainQueries, QueryFailed
from race_protocol.beacon.keys import EncryptionKey
from race_protocol.beacon.participant import (
    Holder,
    deal_message,
    new_secret,
    recover_message,
    register_key_message,
    reveal_message,
)
from race_protocol.gen.race.v1 import beacon_pb2, query_pb2

log = logging.getLogger("race.agent.beacon")

BEACON_DIR = "beacon"
KEY_FILE = "key.json"
# How many rounds' secrets stay on disk (the round in progress needs only its own).
KEEP_SECRETS_ROUNDS = 4
# While the chain does not show this node's key, registration is tried again every this
# many blocks (a refused registration is final in the journal for its key).
KEY_RETRY_BLOCKS = 20

COMMIT = beacon_pb2.BEACON_ROUND_STATUS_COMMIT
REVEAL = beacon_pb2.BEACON_ROUND_STATUS_REVEAL
RECOVERY = beacon_pb2.BEACON_ROUND_STATUS_RECOVERY
AWAITING_DEAL = beacon_pb2.BEACON_PARTICIPANT_STATUS_AWAITING_DEAL
DEALT = beacon_pb2.BEACON_PARTICIPANT_STATUS_DEALT
WITHHELD = beacon_pb2.BEACON_PARTICIPANT_STATUS_WITHHELD


class BeaconVaultError(Exception):
    """The beacon files in the node home cannot be read or written."""


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON readable by the owner only, atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


class BeaconVault:
    """The beacon's secrets in the node home: the encryption key and each round's secret."""

    def __init__(self, agent_dir: Path) -> None:
        self.directory = agent_dir / BEACON_DIR

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def encryption_key(self) -> EncryptionKey:
        """The node's key pair, made on first use."""
        path = self.directory / KEY_FILE
        if path.exists():
            try:
                return EncryptionKey.from_private(bytes.fromhex(
                    json.loads(path.read_text())["private_key"]))
            except (OSError, ValueError, KeyError) as exc:
                raise BeaconVaultError(f"cannot read the beacon key {path}: {exc}; move it "
                                       "away to make a new one (it counts from the next "
                                       "round)") from exc
        self._ensure_directory()
        key = EncryptionKey.generate()
        _write_private(path, {"private_key": key.private_key.hex(),
                              "public_key": key.public_key.hex()})
        log.info("made a beacon encryption key %s in %s", key.public_key.hex(), path)
        return key

    def _secret_path(self, round_id: int) -> Path:
        return self.directory / f"round-{round_id}.json"

    def secret(self, chain_id: str, round_id: int) -> bytes | None:
        """The secret dealt in ``round_id`` of ``chain_id``, if this node drew one."""
        path = self._secret_path(round_id)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BeaconVaultError(f"cannot read {path}: {exc}") from exc
        if document.get("chain_id") != chain_id or document.get("round") != round_id:
            return None
        return bytes.fromhex(document["secret"])

    def secret_for_deal(self, chain_id: str, round_id: int) -> bytes:
        """The round's secret: the one already written, or a new one, written first."""
        existing = self.secret(chain_id, round_id)
        if existing is not None:
            return existing
        self._ensure_directory()
        secret = new_secret()
        _write_private(self._secret_path(round_id), {"chain_id": chain_id, "round": round_id,
                                                     "secret": secret.hex()})
        self._forget_before(round_id - KEEP_SECRETS_ROUNDS)
        return secret

    def _forget_before(self, round_id: int) -> None:
        for path in sorted(self.directory.glob("round-*.json")):
            number = path.stem.removeprefix("round-")
            if number.isdigit() and int(number) < round_id:
                path.unlink(missing_ok=True)


class BeaconParticipant:
    """One operator's beacon work, height by height (see the module docstring)."""

    def __init__(self, vault: BeaconVault, *, withhold_reveal: bool = False) -> None:
        self.vault = vault
        self.withhold_reveal = withhold_reveal
        self.chain_id: str | None = None
        self._key: EncryptionKey | None = None
        self._reported: set[str] = set()

    @property
    def key(self) -> EncryptionKey:
        if self._key is None:
            self._key = self.vault.encryption_key()
        return self._key

    async def on_block(self, block: BlockContext) -> None:
        agent = block.agent
        queries = ChainQueries(agent.rpc)
        status = await asyncio.to_thread(agent.rpc.status)
        self.chain_id = str(status["node_info"]["network"])
        if status.get("sync_info", {}).get("catching_up"):
            return  # its state is old: a deal or reveal now would miss its window
        # The latest state, not the state at ``block.height``: an agent replaying heights
        # after a restart acts on what the round needs now (the journal keeps it to one
        # tx per step).
        answer, height = await self._round_in_progress(queries)
        me = None if answer is None else next(
            (p for p in answer.participants if p.address == agent.operator_address), None)
        if me is None or bytes.fromhex(me.public_key) != self.key.public_key:
            await self._ensure_key(agent, queries, block.height)
        if answer is None or me is None:
            return
        entry = answer.round
        # The answer reflects committed height ``height``: a tx sent now lands at
        # ``height + 1`` at the earliest, so a window about to close is left alone.
        next_height = height + 1
        if entry.status == COMMIT and me.status == AWAITING_DEAL:
            if next_height <= entry.commit_end_height:
                await self._deal(agent, answer)
        elif entry.status == REVEAL and me.status == DEALT:
            if next_height <= entry.reveal_end_height and not self.withhold_reveal:
                await self._reveal(agent, entry.round)
        elif entry.status == RECOVERY and next_height <= entry.end_height:
            await self._recover(agent, queries, answer, me)

    async def _round_in_progress(self, queries: ChainQueries
                                 ) -> tuple[query_pb2.QueryBeaconRoundResponse | None, int]:
        try:
            answer, height = await asyncio.to_thread(
                queries.call_at, "BeaconRound", query_pb2.QueryBeaconRoundRequest(round=0))
        except QueryFailed as failure:
            if ROUND_NOT_FOUND.matches(failure.code):
                return None, 0
            raise
        assert isinstance(answer, query_pb2.QueryBeaconRoundResponse)
        return answer, height

    async def _ensure_key(self, agent: AgentServices, queries: ChainQueries,
                          height: int) -> None:
        """Register this node's key when the chain shows none or another, and the operator
        has voting weight (only such an account may register one)."""
        operator = agent.operator_address
        found = await asyncio.to_thread(
            queries.call, "BeaconKey", query_pb2.QueryBeaconKeyRequest(operator=operator))
        assert isinstance(found, query_pb2.QueryBeaconKeyResponse)
        if found.found and bytes.fromhex(found.key.public_key) == self.key.public_key:
            return
        validators = await asyncio.to_thread(queries.validators)
        if not any(v.operator == operator and v.power > 0 for v in validators):
            return
        assert self.chain_id is not None
        message = register_key_message(self.key, self.chain_id, operator)
        key = f"beacon/key/{self.key.public_key.hex()[:16]}/{height // KEY_RETRY_BLOCKS}"
        self._report(key, "key registration", await agent.submit_once(key, [message]))

    async def _deal(self, agent: AgentServices,
                    answer: query_pb2.QueryBeaconRoundResponse) -> None:
        assert self.chain_id is not None
        entry = answer.round
        secret = await asyncio.to_thread(self.vault.secret_for_deal, self.chain_id,
                                         entry.round)
        holders = [Holder(p.address, p.first_index, p.units, bytes.fromhex(p.public_key))
                   for p in answer.participants]
        message = await asyncio.to_thread(
            deal_message, secret, self.chain_id, entry.round, agent.operator_address,
            entry.threshold_units, holders)
        key = f"beacon/deal/{entry.round}"
        self._report(key, f"round {entry.round} deal", await agent.submit_once(key, [message]))

    async def _reveal(self, agent: AgentServices, round_id: int) -> None:
        assert self.chain_id is not None
        secret = await asyncio.to_thread(self.vault.secret, self.chain_id, round_id)
        if secret is None:
            log.warning("round %d: no secret in %s to reveal (was it dealt from another "
                        "home?); the others will recover it", round_id, self.vault.directory)
            return
        message = reveal_message(secret, round_id, agent.operator_address)
        key = f"beacon/reveal/{round_id}"
        self._report(key, f"round {round_id} reveal", await agent.submit_once(key, [message]))

    async def _recover(self, agent: AgentServices, queries: ChainQueries,
                       answer: query_pb2.QueryBeaconRoundResponse,
                       me: beacon_pb2.BeaconParticipant) -> None:
        assert self.chain_id is not None
        entry = answer.round
        withheld = [p.address for p in answer.participants
                    if p.status == WITHHELD and p.address != agent.operator_address]
        if not withheld or bytes.fromhex(me.public_key) != self.key.public_key:
            return
        deals: dict[str, Sequence[bytes]] = {}
        for dealer in withheld:
            deal = await asyncio.to_thread(queries.call, "BeaconDeal",
                                           query_pb2.QueryBeaconDealRequest(
                                               round=entry.round, dealer=dealer))
            assert isinstance(deal, query_pb2.QueryBeaconDealResponse)
            deals[dealer] = [bytes.fromhex(y) for y in deal.encrypted_shares]
        holder = Holder(me.address, me.first_index, me.units, bytes.fromhex(me.public_key))
        message = await asyncio.to_thread(recover_message, self.key, self.chain_id,
                                          entry.round, holder, deals)
        key = f"beacon/recover/{entry.round}"
        self._report(key, f"round {entry.round} recovery shares for {', '.join(withheld)}",
                     await agent.submit_once(key, [message]))

    def _report(self, key: str, what: str, submission: Submission) -> None:
        """Log a submission's verdict once (later calls for its key get the same one)."""
        if key in self._reported:
            return
        self._reported.add(key)
        if submission.accepted:
            log.info("beacon %s: tx %s", what, submission.hash)
        else:
            log.warning("beacon %s refused (code %d): %s", what, submission.check.code,
                        submission.check.log)


def beacon_duty(agent_dir: Path, *, withhold_reveal: bool = False) -> BlockHandler:
    """The handler for ``agent.on_block``, keeping its files in ``agent_dir/beacon``."""
    participant = BeaconParticipant(BeaconVault(agent_dir), withhold_reveal=withhold_reveal)

    async def beacon(block: BlockContext) -> None:
        await participant.on_block(block)

    return beacon
