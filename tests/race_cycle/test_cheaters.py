"""The four cheaters of tests/faults/cheating_agent.py against the real chain and real
validation: hits found by the Race engine on the CPU (small work function), trees, roots
and openings built by the agent's own :class:`RaceRunner` (or the cheating variant), and
every honest node's verdicts from recomputing the opened samples with the engine and the
binomial rule (race_protocol/race/validation.py), as the sidecars do.

Each cheater is caught with weight 0; the honest nodes are accepted every cycle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import abci_app.tx as txlib
from gpu_sidecar.race.engine import RaceEngine, scale_distances
from race_node.agent.race import CycleRecord, RaceLedger, RaceRunner
from race_node.agent.race import opening_message as agent_opening_message
from race_protocol.gen.race.v1 import bank_pb2, race_pb2
from race_protocol.race.config import SMALL_CONFIG
from race_protocol.race.seeds import node_seed
from race_protocol.race.validation import judge
from tests.faults.cheating_agent import RUNNERS
from tests.harness import account, key_from_seed, validator_key
from tests.race_cycle.net import RaceNet

torch.set_num_threads(1)
HONEST = 4
NONCES_PER_NODE = 600
CAUGHT = "RACE_ENTRY_STATUS_CAUGHT"


@pytest.fixture(scope="module")
def engine() -> RaceEngine:
    return RaceEngine(device="cpu", dtype="float32", compile_forward=False)


def hits(engine: RaceEngine, race_seed: bytes, consensus_key: bytes) -> list[list[int]]:
    """The qualifying nonces among the first :data:`NONCES_PER_NODE`, as the sidecar finds
    them."""
    distances = scale_distances(engine.recompute(SMALL_CONFIG, race_seed,
                                                 node_seed(consensus_key),
                                                 range(NONCES_PER_NODE), batch_size=200))
    return [[nonce, d] for nonce, d in enumerate(distances) if d < SMALL_CONFIG.threshold_scaled]


def verdict(engine: RaceEngine, race_seed: bytes, consensus_key: bytes,
            nonces: list[int]) -> bool:
    """An honest validator's verdict on a node's opened sample."""
    distances = scale_distances(engine.recompute(SMALL_CONFIG, race_seed,
                                                 node_seed(consensus_key), nonces))
    return judge(SMALL_CONFIG, nonces, distances).accepted


def closed(net: RaceNet, number: int) -> Callable[[], bool]:
    def done() -> bool:
        return bool(net.cycle(number)["status"] == "RACE_CYCLE_STATUS_CLOSED")

    return done


def test_every_cheater_is_caught_and_every_honest_node_accepted(
        engine: RaceEngine, tmp_path: Path) -> None:
    net = RaceNet.start(powers=(10,) * HONEST,
                        race_params={"open_window_blocks": 6, "validation_window_blocks": 6})
    cheaters: dict[str, tuple[str, bytes]] = {}
    for offset, mode in enumerate(sorted(RUNNERS)):
        operator = net.chain.add_key(key_from_seed(90_000 + 2 * offset))
        consensus = txlib.public_key_bytes(key_from_seed(90_001 + 2 * offset))
        cheaters[mode] = (operator, consensus)
    net.block((account(0), bank_pb2.MsgSend(from_address=account(0), to_address=op,
                                            amount_nicoin=10**12))
              for op, _ in cheaters.values())
    outcomes = net.block((op, race_pb2.MsgRegisterProvider(
        operator=op, consensus_pub_key=key, sidecar_identity=f"sha256:{mode}"))
        for mode, (op, key) in cheaters.items())
    assert all(o.ok for o in outcomes), [o.log for o in outcomes]
    keys = {account(i): validator_key(i) for i in range(HONEST)}
    keys.update({op: key for op, key in cheaters.values()})
    runners: dict[str, RaceRunner] = {account(i): RaceRunner(RaceLedger(tmp_path / str(i)))
                                      for i in range(HONEST)}
    runners.update({op: RUNNERS[mode](RaceLedger(tmp_path / mode))
                    for mode, (op, _) in cheaters.items()})

    for _ in range(2):
        cycle = net.wait_for_status("racing")
        number, seed = int(cycle["cycle"]), bytes.fromhex(cycle["race_seed"])
        records: dict[str, CycleRecord] = {}
        commits = []
        for operator, runner in runners.items():
            provider = net.chain.query(f"/race/provider/{operator}")["provider"]
            if int(provider["first_cycle"]) > number:
                continue
            record = records[operator] = CycleRecord("race-test", number)
            record.hits = hits(engine, runner.race_seed_for(seed), keys[operator])
            root, count = runner.commitment(record)
            commits.append((operator, race_pb2.MsgCommitProof(
                operator=operator, cycle=number, root=root, count=count)))
        assert all(o.ok for o in net.block(commits))
        net.wait_for_status("opening")
        openings = []
        for operator, record in records.items():
            ranks = [int(r) for r in net.samples(number, operator)["ranks"]]
            pairs = runners[operator].openings_for(record, ranks)
            openings.append((operator, agent_opening_message(operator, number, pairs)))
        opened = dict(zip(records, net.block(openings), strict=True))
        net.wait_for_status("validating")
        judged = {}
        entries = net.results(number)
        for attester in (account(i) for i in range(HONEST)):
            judged[attester] = {
                op: verdict(engine, seed, keys[op],
                            [int(o["nonce"]) for o in net.samples(number, op)["openings"]])
                for op, e in entries.items()
                if op != attester and int(e["validation_index"]) >= 0}
        assert all(o.ok for o in net.block(
            (a, net.attest_message(a, number, v)) for a, v in judged.items()))
        net.advance_until(closed(net, number))

        results = net.results(number)
        for i in range(HONEST):
            assert results[account(i)]["status"] == "RACE_ENTRY_STATUS_ACCEPTED"
        for mode, (operator, _) in cheaters.items():
            if operator not in results:
                continue  # registered during this cycle: races from the next
            assert results[operator]["status"] == CAUGHT, (mode, results[operator])
            assert operator not in net.powers()
            if mode in ("reuse", "bad-opening"):
                assert not opened[operator].ok
                assert "opened 0 of" in results[operator]["reason"]
            else:
                assert opened[operator].ok
                assert "does not recompute" in results[operator]["reason"]
    for mode, (operator, _) in cheaters.items():
        assert net.chain.query(f"/race/provider/{operator}")["record"]["caught"] == "1", mode
    assert set(net.powers()) == set(runners) - {op for op, _ in cheaters.values()}
