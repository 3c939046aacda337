"""The agent's beacon duty, in process: four operators' duties against the real app, their
txs landing in the next block, as a localnet's agents would see it. Rounds complete on
their own; a withholding node's secret is recovered; a node away for a round is recorded;
a restarted duty reveals the secret it wrote before dealing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from race_node.agent.beacon import BeaconVault, beacon_duty
from race_node.agent.duties import BlockContext, BlockHandler
from race_node.client.broadcast import Submission
from race_node.client.rpc import BroadcastResult, QueryResult
from race_protocol.beacon.output import round_output
from race_protocol.beacon.pvss import contribution
from tests.beacon.net import WINDOWS, InProcessNode
from tests.harness import CHAIN_ID, Chain, account

COMPLETE = "BEACON_ROUND_STATUS_COMPLETE"


class LoopNode(InProcessNode):
    """The chain's RPC for duties: queries run on the event loop's thread (the in-memory
    store belongs to it) while the duty waits in its worker thread."""

    def __init__(self, chain: Chain) -> None:
        super().__init__(chain)
        self.loop: asyncio.AbstractEventLoop | None = None

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        assert self.loop is not None, "queries are answered while the network runs blocks"
        answer: concurrent.futures.Future[QueryResult] = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(InProcessNode.abci_query(self, path, data, height))
            except Exception as error:  # handed to the waiting thread
                answer.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return answer.result(timeout=30)

    def status(self) -> dict[str, Any]:
        return {"node_info": {"network": CHAIN_ID}, "sync_info": {"catching_up": False}}


@dataclass
class FakeAgent:
    """What a duty sees of its agent: the operator, the RPC, and keyed submission whose txs
    go into the next block (a journal of keys, as the real broadcaster keeps)."""

    operator_address: str
    rpc: LoopNode
    chain: Chain
    outbox: list[bytes]
    journal: dict[str, Submission] = field(default_factory=dict)
    sidecar: None = None

    async def submit_once(self, key: str, messages: Sequence[Message],
                          memo: str = "") -> Submission:
        if key in self.journal:
            return self.journal[key]
        tx = self.chain.sign(self.operator_address, messages, memo=memo)
        checked = self.chain.check(tx)
        if checked.code == 0:
            self.outbox.append(tx)
        else:
            self.chain.sync_sequence(self.operator_address)
        submission = Submission(tx.hex(), 0, BroadcastResult(checked.code, checked.log,
                                                             tx.hex()[:16]), key)
        self.journal[key] = submission
        return submission


@dataclass
class Network:
    chain: Chain
    homes: list[Path]
    agents: list[FakeAgent]
    duties: list[BlockHandler | None]
    outbox: list[bytes]

    async def blocks(self, count: int) -> None:
        """``count`` blocks: each running duty sees the last committed height, then its
        txs go into the next block."""
        loop = asyncio.get_running_loop()
        for agent in self.agents:
            agent.rpc.loop = loop
        for _ in range(count):
            height = self.chain.height - 1
            for agent, duty in zip(self.agents, self.duties, strict=True):
                if duty is not None:
                    await duty(BlockContext(height, (), agent))
            outbox = list(self.outbox)
            self.outbox.clear()
            outcomes = self.chain.deliver_txs(outbox)
            assert all(o.ok for o in outcomes), [o.log for o in outcomes if not o.ok]
            for agent in self.agents:
                self.chain.sync_sequence(agent.operator_address)

    def round(self, round_id: int) -> dict[str, Any]:
        return self.chain.query(f"/beacon/round/{round_id}")

    def secret(self, index: int, round_id: int) -> bytes:
        found = BeaconVault(self.homes[index]).secret(CHAIN_ID, round_id)
        assert found is not None, f"node {index} has no secret for round {round_id}"
        return found


def network(tmp_path: Path, *, withhold: int | None = None) -> Network:
    chain = Chain([10, 10, 10, 10], {"beacon": {"params": WINDOWS}})
    homes = [tmp_path / f"node{i}" / "agent" for i in range(4)]
    outbox: list[bytes] = []
    agents = [FakeAgent(account(i), LoopNode(chain), chain, outbox) for i in range(4)]
    duties: list[BlockHandler | None] = [
        beacon_duty(home, withhold_reveal=(i == withhold)) for i, home in enumerate(homes)]
    return Network(chain, homes, agents, duties, outbox)


def offline_output(net: Network, round_id: int, nodes: Sequence[int]) -> str:
    return round_output(round_id, [(account(i), contribution(net.secret(i, round_id)))
                                   for i in nodes]).hex()


async def test_rounds_complete_on_their_own_with_the_output_of_every_secret(
        tmp_path: Path) -> None:
    net = network(tmp_path)
    await net.blocks(24)
    assert net.chain.query("/beacon/latest")["round"] == "2"
    for round_id in (1, 2):
        final = net.round(round_id)
        assert final["round"]["status"] == COMPLETE
        assert final["round"]["output"] == offline_output(net, round_id, range(4))
        assert final["non_revealers"] == []


async def test_a_withholding_node_changes_nothing_its_secret_is_recovered(
        tmp_path: Path) -> None:
    net = network(tmp_path, withhold=2)
    await net.blocks(14)
    final = net.round(1)
    assert final["round"]["status"] == COMPLETE
    assert final["non_revealers"] == [account(2)]
    assert final["round"]["recovered"] == "1"
    assert final["round"]["output"] == offline_output(net, 1, range(4))


async def test_a_node_away_for_a_whole_round_is_a_non_revealer(tmp_path: Path) -> None:
    net = network(tmp_path)
    await net.blocks(1)  # keys registered; round 1 opens, nobody has dealt
    entry = net.round(0)["round"]
    away, net.duties[1] = net.duties[1], None
    await net.blocks(int(entry["end_height"]) - net.chain.height + 1)
    final = net.round(1)
    assert final["round"]["status"] == COMPLETE
    assert final["non_revealers"] == final["excluded"] == [account(1)]
    assert final["round"]["output"] == offline_output(net, 1, [0, 2, 3])
    net.duties[1] = away
    await net.blocks(12)
    assert net.round(2)["round"]["status"] == COMPLETE
    assert net.round(2)["non_revealers"] == []


async def test_a_restarted_duty_reveals_the_secret_it_wrote_before_dealing(
        tmp_path: Path) -> None:
    net = network(tmp_path)
    await net.blocks(2)
    entry = net.round(0)["round"]
    net.chain.advance_to(int(entry["start_height"]))
    await net.blocks(1)  # every duty deals
    assert net.round(1)["round"]["dealt"] == "4"
    net.duties[3] = beacon_duty(net.homes[3])  # a restart: a fresh duty, the same home
    await net.blocks(int(entry["end_height"]) - net.chain.height + 1)
    final = net.round(1)
    assert (final["round"]["status"], final["round"]["revealed"]) == (COMPLETE, "4")
    assert final["round"]["output"] == offline_output(net, 1, range(4))


def test_the_vault_keeps_keys_and_secrets_private_and_forgets_old_rounds(
        tmp_path: Path) -> None:
    vault = BeaconVault(tmp_path / "agent")
    key = vault.encryption_key()
    assert BeaconVault(tmp_path / "agent").encryption_key() == key
    first = vault.secret_for_deal(CHAIN_ID, 1)
    assert vault.secret_for_deal(CHAIN_ID, 1) == first
    assert vault.secret("another-chain", 1) is None
    for round_id in range(2, 8):
        vault.secret_for_deal(CHAIN_ID, round_id)
    assert vault.secret(CHAIN_ID, 1) is None and vault.secret(CHAIN_ID, 7) is not None
    for path in [vault.directory, *vault.directory.iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
    assert json.loads((vault.directory / "key.json").read_text())["public_key"] == \
        key.public_key.hex()
