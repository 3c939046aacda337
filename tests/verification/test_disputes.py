"""Disputes by weighted majority and user reports through the real app (docs/verification.md,
"Disputes" and "Reports"): a failed check is decided by more than half of the weight that
can judge; a caught executor forfeits its held rewards, its reputation resets and the
developer is refunded; a cleared one costs its accuser a false flag; without a majority
nobody is penalised; a report that stands refunds the developer and pays a bounty below
what honest work earns, and one that fails pays the verifiers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abci_app.modules.bank.errors import INSUFFICIENT_FUNDS
from abci_app.modules.rewards import keeper as rewards
from abci_app.modules.verification.errors import (
    ALREADY_DECIDED,
    ALREADY_JUDGED,
    ALREADY_REPORTED,
    NOT_TASK_OWNER,
    NOT_WEIGHTED,
    REPORT_WINDOW_CLOSED,
    SELF_VERDICT,
    TASK_NOT_FOUND,
)
from race_protocol.gen.race.v1 import bank_pb2
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.inference.ticket import api_key_hash
from tests.harness import account
from tests.verification.net import (
    FAIL,
    PASS,
    SECRET,
    UNAVAILABLE,
    VERIFICATION_PARAMS,
    VerificationNet,
)

REPORT_FEE = VERIFICATION_PARAMS["report_fee_nicoin"]


@pytest.fixture
def net() -> Iterator[VerificationNet]:
    network = VerificationNet.start()
    yield network
    network.chain.close()


def status(net: VerificationNet, task_id: bytes) -> str:
    return str(net.task(task_id)["task"]["status"]).removeprefix("TASK_STATUS_")


def key_spent(net: VerificationNet) -> int:
    return int(net.chain.query(f"/inference/key/{api_key_hash(SECRET).hex()}")["key"]
               ["spent_nicoin"])


def node_row(net: VerificationNet, index: int, cycle: int) -> rewards.NodeCycle:
    return rewards.get_node(net.chain.keeper_context(), cycle, account(index))


def reputation(net: VerificationNet, index: int) -> int:
    return rewards.reputation(net.chain.keeper_context(), account(index))


def events(net: VerificationNet, event_type: str) -> list[dict[str, str]]:
    found = [dict(e.attributes) for height in sorted(net.race.events)
             for e in net.race.events[height] if e.type == event_type]
    return found


def tx_events(outcome: object, event_type: str) -> list[dict[str, str]]:
    return [dict(e.attributes) for e in outcome.events if e.type == event_type]  # type: ignore[attr-defined]


def test_a_failed_check_that_the_majority_confirms_catches_the_executor(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    spent = key_spent(net)
    charged = int(net.task(task.task_id)["task"]["charged_nicoin"])
    held = rewards.held_rewards(net.chain.keeper_context(), account(0), task_cycle(net, task))
    assert held > charged, "the executor's share and issuance are held for the cycle"
    opened = net.verdicts(1, [(task.task_id, FAIL)], reason="replay: similarity 0.41")
    assert opened.ok and tx_events(opened, "verification_dispute_opened")
    assert status(net, task.task_id) == "DISPUTED"
    assert net.verdicts(2, [(task.task_id, PASS)]).ok          # 10 pass, 10 fail of 30
    closing = net.verdicts(3, [(task.task_id, UNAVAILABLE)])   # 20 fail: more than half
    assert tx_events(closing, "verification_dispute_closed")[0]["outcome"] == \
        "TASK_STATUS_CAUGHT"
    assert status(net, task.task_id) == "CAUGHT"
    assert node_row(net, 0, task_cycle(net, task)).caught
    assert reputation(net, 0) == 0
    assert key_spent(net) == spent - charged, "the charge went back into the key's escrow"
    refund = tx_events(closing, "verification_refund")[0]
    assert int(refund["refunded_nicoin"]) == charged
    flagged = {e["verifier"] for e in tx_events(closing, "verification_false_flag")}
    assert flagged == {account(2)}, "the pass the majority overturned"
    assert net.invariants() == []


def task_cycle(net: VerificationNet, task: object) -> int:
    return int(net.task(task.task_id)["task"]["cycle"])  # type: ignore[attr-defined]


def test_a_cleared_task_costs_its_accuser_a_false_flag_and_the_executor_nothing(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    held = rewards.held_rewards(net.chain.keeper_context(), account(0), task_cycle(net, task))
    net.verdicts(1, [(task.task_id, FAIL)], reason="replay: noisy")
    net.verdicts(2, [(task.task_id, PASS)])
    closing = net.verdicts(3, [(task.task_id, PASS)])
    assert tx_events(closing, "verification_dispute_closed")[0]["outcome"] == \
        "TASK_STATUS_CLEARED"
    assert not node_row(net, 0, task_cycle(net, task)).caught
    assert rewards.held_rewards(net.chain.keeper_context(), account(0),
                                task_cycle(net, task)) == held
    assert [e["verifier"] for e in tx_events(closing, "verification_false_flag")] == \
        [account(1)]
    assert net.invariants() == []


def test_passes_posted_before_the_failed_check_count_in_its_dispute(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    net.verdicts(2, [(task.task_id, PASS)])
    net.verdicts(3, [(task.task_id, PASS)])
    closing = net.verdicts(1, [(task.task_id, FAIL)])
    assert tx_events(closing, "verification_dispute_closed")[0]["outcome"] == \
        "TASK_STATUS_CLEARED"


def test_without_a_majority_the_dispute_closes_undecided_and_nobody_is_penalised(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    net.verdicts(1, [(task.task_id, FAIL)])
    net.verdicts(2, [(task.task_id, PASS)])
    deadline = int(net.task(task.task_id)["dispute"]["deadline_height"])
    net.advance_to(deadline + 1)
    assert status(net, task.task_id) == "UNDECIDED"
    assert not events(net, "verification_false_flag")
    assert not node_row(net, 0, task_cycle(net, task)).caught
    assert net.chain.query("/verification/disputes")["disputes"] == []


def test_a_report_reopens_a_dispute_that_closed_undecided(net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    net.verdicts(1, [(task.task_id, FAIL)])
    net.verdicts(2, [(task.task_id, PASS)])
    net.advance_to(int(net.task(task.task_id)["dispute"]["deadline_height"]) + 1)
    assert status(net, task.task_id) == "UNDECIDED"
    balance = net.chain.balance(net.developer)
    reported = net.report(task)
    assert reported.ok, reported.log
    assert tx_events(reported, "verification_dispute_opened"), "a new dispute for the voters"
    dispute = net.task(task.task_id)["dispute"]
    assert (dispute["fail_weight"], dispute["pass_weight"]) == ("10", "10"), \
        "the verdicts already posted count again"
    closing = net.verdicts(3, [(task.task_id, FAIL)])
    assert status(net, task.task_id) == "CAUGHT"
    bounty = int(tx_events(closing, "verification_bounty")[0]["paid_nicoin"])
    assert net.chain.balance(net.developer) == balance + bounty, "the fee is back"
    assert net.report(task).code == ALREADY_REPORTED.code
    assert net.invariants() == []


def test_repeated_false_flags_cost_the_validation_share(net: VerificationNet) -> None:
    net.commit(range(4), 1)
    tasks = net.settle(0, 3)
    for task in tasks:
        net.verdicts(1, [(task.task_id, FAIL)])
        net.verdicts(2, [(task.task_id, PASS)])
        net.verdicts(3, [(task.task_id, PASS)])
    assert all(status(net, t.task_id) == "CLEARED" for t in tasks)
    net.finish_epoch(1)
    for _ in range(3):
        net.race_cycle()
    ctx = net.chain.keeper_context()
    outcomes = [rewards.get_node(ctx, c, account(1)).outcome
                for c in range(1, rewards.current_cycle(ctx))]
    assert any(rewards.VALIDATION_LOST in o for o in outcomes), outcomes
    honest = [rewards.get_node(ctx, c, account(2)).outcome
              for c in range(1, rewards.current_cycle(ctx))]
    assert not any(rewards.VALIDATION_LOST in o for o in honest), honest


def test_verdicts_are_refused_from_the_executor_twice_or_from_the_unweighted(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    assert net.verdicts(0, [(task.task_id, PASS)]).code == SELF_VERDICT.code
    assert net.verdicts(1, [(task.task_id, FAIL)]).ok
    assert net.verdicts(1, [(task.task_id, FAIL)]).code == ALREADY_JUDGED.code
    outsider = net.block([(net.developer, pb.MsgPostVerdicts(
        verifier=net.developer, verdicts=[pb.TaskVerdict(task_id=task.task_id,
                                                         verdict=PASS)]))])[0]
    assert outsider.code == NOT_WEIGHTED.code
    unknown = net.verdicts(2, [(task.task_id, PASS), (b"\x07" * 32, PASS)])
    assert unknown.code == TASK_NOT_FOUND.code and "verdict 1" in unknown.log
    assert net.task(task.task_id)["dispute"]["pass_weight"] == "0", "refused whole"


def test_a_report_that_stands_refunds_the_developer_and_pays_a_bounty(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    charged = int(net.task(task.task_id)["task"]["charged_nicoin"])
    cycle = task_cycle(net, task)
    held = rewards.held_rewards(net.chain.keeper_context(), account(0), cycle)
    balance, spent = net.chain.balance(net.developer), key_spent(net)
    reported = net.report(task)
    assert reported.ok, reported.log
    assert net.chain.balance(net.developer) == balance - REPORT_FEE
    net.verdicts(1, [(task.task_id, FAIL)])
    closing = net.verdicts(2, [(task.task_id, FAIL)])
    assert status(net, task.task_id) == "CAUGHT"
    bounty = int(tx_events(closing, "verification_bounty")[0]["paid_nicoin"])
    assert 0 < bounty < held, "a bounty, below what the executor earned honestly"
    ctx = net.chain.keeper_context()
    assert bounty <= rewards.average_earnings(ctx, cycle)
    assert net.chain.balance(net.developer) == balance + bounty, "the fee is back"
    assert key_spent(net) == spent - charged
    assert net.invariants() == []


def test_a_report_that_fails_pays_its_fee_to_the_verifiers(net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    balance = net.chain.balance(net.developer)
    net.report(task)
    net.verdicts(1, [(task.task_id, PASS)])
    closing = net.verdicts(3, [(task.task_id, PASS)])
    assert status(net, task.task_id) == "CLEARED"
    paid = {e["recipient"]: int(e["amount_nicoin"])
            for e in tx_events(closing, "verification_report_fee")}
    assert paid == {account(1): REPORT_FEE // 2, account(3): REPORT_FEE // 2}
    assert net.chain.balance(net.developer) == balance - REPORT_FEE
    assert net.invariants() == []


def test_reports_are_refused_unless_the_key_owner_reports_once_in_time(
        net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    assert net.report(task, reporter=account(2)).code == NOT_TASK_OWNER.code
    assert net.report(task).ok
    assert net.report(task).code == ALREADY_REPORTED.code
    for index in (1, 2):
        net.verdicts(index, [(task.task_id, PASS)])
    assert net.report(task).code in (ALREADY_REPORTED.code, ALREADY_DECIDED.code)
    late = net.settle(1, 1)[0]
    net.advance_to(late.settled_height + VERIFICATION_PARAMS["report_window_blocks"] + 1)
    assert net.report(late).code == REPORT_WINDOW_CLOSED.code
    missing = net.block([(net.developer, pb.MsgReportInference(
        reporter=net.developer, request_id=b"\x09" * 16))])[0]
    assert missing.code == TASK_NOT_FOUND.code


def test_a_report_costs_its_fee(net: VerificationNet) -> None:
    task = net.settle(0, 1)[0]
    broke = net.chain.balance(net.developer)
    net.block([(net.developer, bank_pb2.MsgSend(
        from_address=net.developer, to_address=account(1), amount_nicoin=broke))])
    assert net.report(task).code == INSUFFICIENT_FUNDS.code
