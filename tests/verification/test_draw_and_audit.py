"""The verifier draw through the real app (docs/verification.md, "The draw"): seeds are
committed before the tasks exist and revealed after the epoch; the chain's audit counts
exactly the tasks each agent computed it was drawn for; a verifier that skips, or never
reveals, is recorded as skipping and loses its validation share at the release."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abci_app.modules.rewards import keeper as rewards
from abci_app.modules.verification.errors import (
    ALREADY_COMMITTED,
    ALREADY_REVEALED,
    BAD_SEED_SIGNATURE,
    NOT_WEIGHTED,
    REVEAL_WINDOW_CLOSED,
    SEED_MISMATCH,
    TASK_CLOSED,
    WRONG_EPOCH,
)
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.verification.draw import seed_commitment, seed_message
from tests.harness import CHAIN_ID, account, key_for
from tests.verification.net import PASS, VerificationNet


@pytest.fixture
def net() -> Iterator[VerificationNet]:
    network = VerificationNet.start()
    yield network
    network.chain.close()


def verifier_row(net: VerificationNet, epoch: int, index: int) -> dict[str, str]:
    rows = net.epoch(epoch)["verifiers"]
    return next(row for row in rows if row["verifier"] == account(index))


def recorded(net: VerificationNet, index: int) -> tuple[int, int]:
    """(drawn, done) the audit handed the rewards rules for validator ``index``."""
    events = [e for _, e in net.race.block_events("rewards_verification")
              if e["node"] == account(index)]
    return sum(int(e["drawn"]) for e in events), sum(int(e["done"]) for e in events)


def rewards_rows(net: VerificationNet, index: int) -> list[rewards.NodeCycle]:
    ctx = net.chain.keeper_context()
    current = rewards.current_cycle(ctx)
    return [rewards.get_node(ctx, cycle, account(index)) for cycle in range(1, current + 1)]


def test_the_chains_audit_counts_exactly_the_tasks_each_agent_drew(
        net: VerificationNet) -> None:
    assert all(o.ok for o in net.commit(range(4), 1))
    net.settle(0, 25)
    net.settle(1, 25)
    drawn = {i: net.drawn(i) for i in range(4)}
    for index, tasks in drawn.items():
        if tasks:
            assert net.verdicts(index, [(t, PASS) for t in tasks]).ok
    net.finish_epoch(1)
    for index, tasks in drawn.items():
        row = verifier_row(net, 1, index)
        assert (int(row["drawn"]), int(row["done"])) == (len(tasks), len(tasks))
        assert recorded(net, index) == (len(tasks), len(tasks))
    # Each verifier is drawn for about rate x its share of the other weight: 0.6 x 10/30.
    assert 5 <= len(drawn[2]) <= 30
    assert net.epoch(1)["epoch"]["status"] == "EPOCH_AUDIT_STATUS_AUDITED"
    assert net.invariants() == []


def test_no_verifier_is_ever_drawn_for_its_own_tasks(net: VerificationNet) -> None:
    net.commit(range(4), 1)
    own = net.settle(0, 40)
    assert net.drawn(0, own) == []


def test_a_verifier_that_skips_its_drawn_tasks_loses_its_validation_share(
        net: VerificationNet) -> None:
    net.commit(range(4), 1)
    net.settle(0, 30)
    skipper = 3
    drawn = {i: net.drawn(i) for i in range(4)}
    assert drawn[skipper], "the skipper must have been drawn for something"
    for index in (1, 2):
        assert net.verdicts(index, [(t, PASS) for t in drawn[index]]).ok
    # The skipper checks one of its tasks and skips the rest.
    assert net.verdicts(skipper, [(drawn[skipper][0], PASS)]).ok
    net.finish_epoch(1)
    row = verifier_row(net, 1, skipper)
    assert int(row["done"]) == 1 < int(row["drawn"]) == len(drawn[skipper])
    record = net.chain.query(f"/verification/verifier/{account(skipper)}")["record"]
    assert record["epochs_skipped"] == "1"
    # The rewards rules withhold its validation share at the next release; honest ones keep it.
    for _ in range(3):
        net.race_cycle()
    lost = [r for r in rewards_rows(net, skipper) if rewards.VALIDATION_LOST in r.outcome]
    assert lost, [r.outcome for r in rewards_rows(net, skipper)]
    for honest in (1, 2):
        assert not [r for r in rewards_rows(net, honest)
                    if rewards.VALIDATION_LOST in r.outcome]


def test_a_verifier_that_never_reveals_has_skipped_every_cycle_of_the_epoch(
        net: VerificationNet) -> None:
    net.commit(range(4), 1)
    net.settle(0, 10)
    net.finish_epoch(1, revealers=[0, 1, 3])
    row = verifier_row(net, 1, 2)
    assert not row["revealed"]
    drawn, done = recorded(net, 2)
    assert drawn >= 1 and done == 0
    assert net.chain.query(f"/verification/verifier/{account(2)}")["record"][
        "epochs_skipped"] == "1"


def test_a_commitment_covers_only_tasks_settled_after_it(net: VerificationNet) -> None:
    early = net.settle(0, 30)
    net.commit([1], 1)
    late = net.settle(0, 30)
    assert net.drawn(1, early) == []
    assert net.drawn(1, late), "a 20% chance over 30 tasks"


def test_seeds_are_committed_by_weighted_nodes_and_revealed_only_as_committed(
        net: VerificationNet) -> None:
    assert net.commit([0], 1)[0].ok
    assert net.commit([0], 1)[0].code == ALREADY_COMMITTED.code
    assert net.commit([0], 3)[0].code == WRONG_EPOCH.code
    stranger = net.block([(net.developer, pb.MsgCommitVerifierSeed(
        verifier=net.developer, epoch=1, commitment=b"\x00" * 32))])[0]
    assert stranger.code == NOT_WEIGHTED.code
    assert net.reveal([0], 1)[0].code == WRONG_EPOCH.code  # the epoch has not ended
    # Node 1 commits to a signature by another key: the hash matches, the signature not.
    forged = key_for(2).sign(seed_message(CHAIN_ID, 1))
    net.block([(account(1), pb.MsgCommitVerifierSeed(
        verifier=account(1), epoch=1, commitment=seed_commitment(forged)))])
    while net.epoch(1)["epoch"]["status"] == "EPOCH_AUDIT_STATUS_OPEN":
        net.block()
    wrong, stolen, right = net.block([
        (account(0), pb.MsgRevealVerifierSeed(verifier=account(0), epoch=1,
                                              seed=net.seed(0, 2))),
        (account(1), pb.MsgRevealVerifierSeed(verifier=account(1), epoch=1, seed=forged)),
        (account(0), pb.MsgRevealVerifierSeed(verifier=account(0), epoch=1,
                                              seed=net.seed(0, 1)))])
    assert wrong.code == SEED_MISMATCH.code
    assert stolen.code == BAD_SEED_SIGNATURE.code
    assert right.ok
    assert net.reveal([0], 1)[0].code == ALREADY_REVEALED.code
    deadline = int(net.epoch(1)["epoch"]["reveal_end_height"])
    net.advance_to(deadline + 1)
    net.commit([3], 2)
    assert net.reveal([3], 1)[0].code in (REVEAL_WINDOW_CLOSED.code,)


def test_checks_of_an_epoch_under_audit_are_refused(net: VerificationNet) -> None:
    net.commit(range(4), 1)
    tasks = net.settle(0, 20)
    net.finish_epoch(1)
    late = net.verdicts(1, [(tasks[0].task_id, PASS)])
    assert late.code == TASK_CLOSED.code
    assert "verdict 0" in late.log
