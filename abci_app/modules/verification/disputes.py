"""Verdicts, disputes and user reports (whitepaper section 6, "Majority Verification",
"Verification challenges", "User-driven oversight", "Bounty reward"; docs/verification.md,
"Disputes" and "Reports").

* **A check.** An epoch's verifier posts a verdict on a task it replayed. A pass is
  recorded. A failed check (the replay rejected the transcript, or the executor would not
  hand it over) is not yet a conviction: hardware is not bit-exact, so it opens a
  *dispute*, in which every verdict already posted on the task counts (the accuser's
  failing it among them).
* **A dispute.** Every other weighted node may replay the task and vote (its verdict on a
  task in dispute is a vote, weighed with its voting weight now). The executor cannot
  vote; the *eligible weight* is every validator's weight but the executor's, fixed when
  the dispute opens. As soon as more than half of it fails the task, the executor is
  **caught**: it forfeits its held rewards for the cycle and its reputation resets to 0
  (the rewards rules), and the developer is refunded the charge out of the forfeited
  rewards, into the API key's escrow. As soon as more than half passes it, it is
  **cleared**. After ``dispute_window_blocks`` without either, it closes **undecided** and
  nobody is penalised: a noisy replay can never convict an honest executor on its own.
* **Overturned verdicts.** When a dispute is decided, every verdict on the losing side (a
  failed check of a cleared task, a pass of a caught one, then or later) is a false flag
  for the rewards rules: past ``max_false_flags_per_cycle`` a node loses its validation
  share, so one noisy replay costs an honest node nothing.
* **A report.** The developer who paid for a task may report it within
  ``report_window_blocks``, paying ``report_fee_nicoin``; it opens a dispute (or joins the
  one open, or opens a new one when an earlier dispute closed undecided). If the task is
  caught the fee comes back, with a bounty out of the forfeited rewards (half to the
  reporter, capped by the rewards rules below an average node's earnings, half shared by
  the weight that failed it); if it is cleared the fee is shared by the weight that passed
  it; if undecided, by every voter (back to the reporter when nobody voted).

Integers only: "more than half" is ``2 * weight > eligible``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from abci_app.core.context import Context
from abci_app.core.errors import ChainError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.epochs import weights
from abci_app.modules.inference import keeper as inference
from abci_app.modules.inference import lifecycle as inference_lifecycle
from abci_app.modules.race import keeper as race
from abci_app.modules.rewards import keeper as rewards
from abci_app.modules.verification import keeper
from abci_app.modules.verification.errors import (
    ALREADY_DECIDED,
    ALREADY_JUDGED,
    ALREADY_REPORTED,
    AMBIGUOUS_REQUEST,
    NOT_A_VERIFIER,
    NOT_TASK_OWNER,
    NOT_WEIGHTED,
    REPORT_WINDOW_CLOSED,
    SELF_VERDICT,
    TASK_CLOSED,
    TASK_NOT_FOUND,
    TOO_MANY_VERDICTS,
)
from abci_app.modules.verification.keeper import Check, Dispute, Task
from race_protocol.gen.race.v1 import verification_pb2 as pb

CLOSED = (keeper.CAUGHT, keeper.CLEARED, keeper.UNDECIDED)
# A task a dispute decided; an undecided one may still be reported.
DECIDED = (keeper.CAUGHT, keeper.CLEARED)


def _cycle_now(ctx: Context) -> int:
    cycle = race.current_cycle(ctx)
    return 0 if cycle is None else cycle.cycle


def _task(ctx: Context, task_id: bytes) -> Task:
    task = keeper.get_task(ctx, task_id)
    if task is None:
        raise TASK_NOT_FOUND(f"no settled task {task_id.hex()} (never settled, charged "
                             "nothing, or pruned)")
    return task


# --- verdicts --------------------------------------------------------------------------------

def post_verdicts(ctx: Context, verifier: str, verdicts: Sequence[pb.TaskVerdict]) -> None:
    """Each verdict in order; the first refusal refuses the message, naming it."""
    limit = ctx.params("verification").max_verdicts_per_msg
    if len(verdicts) > limit:
        raise TOO_MANY_VERDICTS(f"{len(verdicts)} verdicts; max_verdicts_per_msg is {limit}")
    for index, item in enumerate(verdicts):
        try:
            post_verdict(ctx, verifier, bytes(item.task_id), item.verdict, item.reason)
        except ChainError as refused:
            raise ChainError(refused.code, refused.codespace,
                             f"verdict {index} (task {bytes(item.task_id).hex()}): "
                             f"{refused.log}") from None


def post_verdict(ctx: Context, verifier: str, task_id: bytes, verdict: int,
                 reason: str) -> None:
    """A check of a task, or a vote in its dispute (module docstring)."""
    task = _task(ctx, task_id)
    if verifier == task.executor:
        raise SELF_VERDICT(f"{verifier} executed task {task_id.hex()}")
    if keeper.has_check(ctx, task_id, verifier):
        raise ALREADY_JUDGED(f"{verifier} already posted a verdict on task {task_id.hex()}")
    dispute = keeper.get_dispute(ctx, task_id)
    if dispute is not None and dispute.status == keeper.DISPUTED:
        vote(ctx, task, dispute, verifier, verdict, reason)
        return
    if task.status not in CLOSED:
        epoch = keeper.get_epoch(ctx, task.epoch)
        if epoch is not None and (epoch.status in (keeper.AUDITING, keeper.AUDITED) or (
                epoch.status == keeper.REVEALING
                and ctx.block.height > epoch.reveal_end_height)):
            raise TASK_CLOSED(f"task {task_id.hex()} belongs to epoch {task.epoch}, whose "
                              "checks are being audited; only disputes still take votes")
    if keeper.get_verifier(ctx, task.epoch, verifier).weight <= 0:
        raise NOT_A_VERIFIER(f"{verifier} had no voting weight when epoch {task.epoch} "
                             "started; it may vote in disputes once weighted")
    failed = verdict != keeper.PASS
    keeper.put_check(ctx, Check(task_id, verifier, verdict, reason, ctx.block.height,
                                vote=False, weight=0))
    keeper.bump_record(ctx, verifier, checks=1, failed_checks=1 if failed else 0)
    ctx.emit("verification_check", task_id=task_id.hex(), verifier=verifier,
             verdict=pb.Verdict.Name(verdict), executor=task.executor)
    if task.status in CLOSED:
        if (task.status == keeper.CAUGHT and not failed) or \
                (task.status == keeper.CLEARED and failed):
            false_flag(ctx, task, verifier)
        return
    if failed:
        open_dispute(ctx, task, accuser=verifier, reason=reason)


def vote(ctx: Context, task: Task, dispute: Dispute, voter: str, verdict: int,
         reason: str) -> None:
    """A weighted node's verdict on a task in dispute, weighed with its weight now."""
    weight = weights.voting_weight(ctx, voter)
    if weight <= 0:
        raise NOT_WEIGHTED(f"{voter} has no voting weight; only weighted nodes vote")
    keeper.put_check(ctx, Check(task.task_id, voter, verdict, reason, ctx.block.height,
                                vote=True, weight=weight))
    keeper.bump_record(ctx, voter, votes=1)
    ctx.emit("verification_vote", task_id=task.task_id.hex(), voter=voter,
             verdict=pb.Verdict.Name(verdict), weight=weight)
    if verdict == keeper.PASS:
        dispute = replace(dispute, pass_weight=dispute.pass_weight + weight)
    else:
        dispute = replace(dispute, fail_weight=dispute.fail_weight + weight)
    tally(ctx, task, dispute)


# --- disputes --------------------------------------------------------------------------------

def open_dispute(ctx: Context, task: Task, *, accuser: str = "", reporter: str = "",
                 report_fee: int = 0, reason: str = "") -> None:
    """Re-verification by the weighted majority (whitepaper section 6: "other nodes, which
    together represent the majority of voting weight, must re-verify the result"). Every
    verdict already posted on the task counts, with its node's weight now; it may decide
    the dispute at once."""
    eligible = weights.total_voting_weight(ctx) - weights.voting_weight(ctx, task.executor)
    deadline = ctx.block.height + ctx.params("verification").dispute_window_blocks
    dispute = Dispute(task_id=task.task_id, status=keeper.DISPUTED,
                      opened_height=ctx.block.height, deadline_height=deadline,
                      eligible_weight=eligible, accuser=accuser, reporter=reporter,
                      report_fee=report_fee, reason=reason)
    task = keeper.set_task_status(ctx, task, keeper.DISPUTED)
    ctx.emit("verification_dispute_opened", task_id=task.task_id.hex(),
             executor=task.executor, model=task.model, ticket_height=task.ticket_height,
             request_id=task.request_id.hex(), accuser=accuser, reporter=reporter,
             deadline_height=deadline, eligible_weight=eligible)
    for check in keeper.checks_of(ctx, task.task_id):
        weight = weights.voting_weight(ctx, check.verifier)
        keeper.put_check(ctx, replace(check, weight=weight))
        if check.passes:
            dispute = replace(dispute, pass_weight=dispute.pass_weight + weight)
        else:
            dispute = replace(dispute, fail_weight=dispute.fail_weight + weight)
    tally(ctx, task, dispute)


def tally(ctx: Context, task: Task, dispute: Dispute) -> None:
    """Store the dispute; close it as soon as more than half of the eligible weight agrees."""
    if dispute.eligible_weight <= 0:
        keeper.put_dispute(ctx, dispute)  # nobody can judge: it closes undecided
    elif dispute.fail_weight * 2 > dispute.eligible_weight:
        close(ctx, task, dispute, keeper.CAUGHT)
    elif dispute.pass_weight * 2 > dispute.eligible_weight:
        close(ctx, task, dispute, keeper.CLEARED)
    else:
        keeper.put_dispute(ctx, dispute)


def close(ctx: Context, task: Task, dispute: Dispute, outcome: int) -> None:
    """Apply a dispute's outcome (module docstring)."""
    task = keeper.get_task(ctx, task.task_id) or task
    dispute = keeper.put_dispute(ctx, replace(dispute, status=outcome,
                                              closed_height=ctx.block.height))
    keeper.set_task_status(ctx, task, outcome)
    checks = keeper.checks_of(ctx, task.task_id)
    cycle = _cycle_now(ctx)
    if outcome == keeper.CAUGHT:
        losers = [c for c in checks if c.passes]
        winners = [c for c in checks if not c.passes and c.weight > 0]
        reason = (f"task {task.task_id.hex()} (request {task.request_id.hex()}) failed "
                  f"re-verification: {dispute.fail_weight} of {dispute.eligible_weight} "
                  "eligible weight")
        forfeited = rewards.record_caught(ctx, task.executor, task.cycle, reason)
        refunded = refund(ctx, task, cycle)
        if dispute.reporter:
            pay_report_fee(ctx, dispute, [(dispute.reporter, 1)])
            reward_report(ctx, dispute, winners, max(0, forfeited - refunded), cycle)
    elif outcome == keeper.CLEARED:
        losers = [c for c in checks if not c.passes]
        if dispute.reporter:
            pay_report_fee(ctx, dispute, [(c.verifier, c.weight) for c in checks
                                          if c.passes and c.weight > 0])
    else:
        losers = []
        if dispute.reporter:
            voters = [(c.verifier, c.weight) for c in checks if c.weight > 0]
            pay_report_fee(ctx, dispute, voters or [(dispute.reporter, 1)])
    for check in losers:
        false_flag(ctx, task, check.verifier)
    ctx.emit("verification_dispute_closed", task_id=task.task_id.hex(),
             executor=task.executor, outcome=pb.TaskStatus.Name(outcome),
             pass_weight=dispute.pass_weight, fail_weight=dispute.fail_weight,
             eligible_weight=dispute.eligible_weight, reporter=dispute.reporter)


def close_due(ctx: Context) -> None:
    """End of block: disputes past their deadline close undecided (a decided one closed
    when its deciding vote landed), at most ``audit_work_per_block`` of them."""
    work = ctx.params("verification").audit_work_per_block
    due = [(deadline, task_id) for deadline, task_id in keeper.open_disputes(ctx, limit=work)
           if deadline <= ctx.block.height]
    for _, task_id in due:
        dispute = keeper.get_dispute(ctx, task_id)
        task = keeper.get_task(ctx, task_id)
        assert dispute is not None and task is not None
        close(ctx, task, dispute, keeper.UNDECIDED)


def false_flag(ctx: Context, task: Task, verifier: str) -> None:
    """A verdict the weighted majority overturned (DESIGN.md section 8)."""
    cycle = _cycle_now(ctx)
    rewards.record_false_flag(ctx, verifier, cycle)
    keeper.bump_record(ctx, verifier, false_flags=1)
    if keeper.has_verifier(ctx, task.epoch, verifier):
        row = keeper.get_verifier(ctx, task.epoch, verifier)
        keeper.put_verifier(ctx, replace(row, false_flags=row.false_flags + 1))
    ctx.emit("verification_false_flag", task_id=task.task_id.hex(), verifier=verifier,
             cycle=cycle)


# --- money -----------------------------------------------------------------------------------

def refund(ctx: Context, task: Task, cycle: int) -> int:
    """Reimburse the developer's charge out of the forfeited rewards, into the API key's
    escrow while the key exists (its owner gets it back with the key's budget), else to the
    developer. Returns what was refunded (less than the charge only when the forfeit pool
    holds less)."""
    escrow = inference.escrow_address()
    if inference.get_key(ctx, task.key_hash) is None:
        paid = rewards.refund_developer(ctx, task.developer, task.charged, cycle)
    else:
        paid = rewards.refund_developer(ctx, escrow, task.charged, cycle)
        credited = inference_lifecycle.credit_refund(ctx, task.key_hash, paid)
        if credited < paid:
            bank.send(ctx, escrow, task.developer, paid - credited)
    ctx.emit("verification_refund", task_id=task.task_id.hex(), developer=task.developer,
             charged_nicoin=task.charged, refunded_nicoin=paid)
    return paid


def _shares(amount: int, parties: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """``amount`` split by weight, by address; the first takes the rounding remainder."""
    by_party: dict[str, int] = {}
    for party, weight in parties:
        by_party[party] = by_party.get(party, 0) + weight
    total = sum(by_party.values())
    if amount <= 0 or total <= 0:
        return []
    ordered = sorted(by_party.items())
    parts = [(party, amount * weight // total) for party, weight in ordered]
    remainder = amount - sum(part for _, part in parts)
    return [(parts[0][0], parts[0][1] + remainder), *parts[1:]]


def pay_report_fee(ctx: Context, dispute: Dispute,
                   parties: Sequence[tuple[str, int]]) -> None:
    """The report fee leaves the reports account: back to the reporter when it is the one
    party, else to the voters by weight, held with their other rewards."""
    if dispute.report_fee <= 0:
        return
    if [party for party, _ in parties] == [dispute.reporter]:
        bank.send(ctx, keeper.reports_address(), dispute.reporter, dispute.report_fee)
        ctx.emit("verification_report_fee", task_id=dispute.task_id.hex(),
                 recipient=dispute.reporter, amount_nicoin=dispute.report_fee)
        return
    cycle = _cycle_now(ctx)
    for party, part in _shares(dispute.report_fee, parties):
        if part:
            rewards.accrue(ctx, party, cycle, part, rewards.VERIFIER,
                           source=keeper.reports_address())
            ctx.emit("verification_report_fee", task_id=dispute.task_id.hex(),
                     recipient=party, amount_nicoin=part)


def reward_report(ctx: Context, dispute: Dispute, winners: Sequence[Check], forfeited: int,
                  cycle: int) -> None:
    """Whitepaper section 6: a validated report's forfeited rewards "are then shared with the
    user and the verifying nodes": half to the reporter as a bounty (capped by the rewards
    rules below what honest work earns), half held for the nodes that failed the task."""
    if forfeited <= 0:
        return
    to_reporter = forfeited // 2
    paid = rewards.pay_bounty(ctx, dispute.reporter, cycle, to_reporter)
    for verifier, part in _shares(forfeited - to_reporter,
                                  [(c.verifier, c.weight) for c in winners]):
        if part:
            rewards.reward_from_forfeits(ctx, verifier, cycle, part, rewards.VERIFIER)
    ctx.emit("verification_bounty", task_id=dispute.task_id.hex(), reporter=dispute.reporter,
             paid_nicoin=paid)


# --- reports ---------------------------------------------------------------------------------

def report(ctx: Context, reporter: str, request_id: bytes, ticket_height: int,
           reason: str) -> Task:
    """Whitepaper section 6, "User-driven oversight": a paid report triggers re-verification
    by the weighted majority."""
    found = [(height, task_id) for height, task_id in keeper.tasks_of_request(ctx, request_id)
             if not ticket_height or height == ticket_height]
    if not found:
        raise TASK_NOT_FOUND(f"no settled task for request {request_id.hex()}"
                             + (f" at ticket height {ticket_height}" if ticket_height else ""))
    if len(found) > 1:
        raise AMBIGUOUS_REQUEST(f"request {request_id.hex()} settled at ticket heights "
                                f"{', '.join(str(h) for h, _ in found)}; give --height")
    task = _task(ctx, found[0][1])
    if task.developer != reporter:
        raise NOT_TASK_OWNER(f"task {task.task_id.hex()} charged a key of {task.developer}")
    window = ctx.params("verification").report_window_blocks
    if ctx.block.height > task.settled_height + window:
        raise REPORT_WINDOW_CLOSED(f"task {task.task_id.hex()} settled at block "
                                   f"{task.settled_height}; reports close {window} blocks "
                                   "later")
    dispute = keeper.get_dispute(ctx, task.task_id)
    if dispute is not None and dispute.reporter:
        raise ALREADY_REPORTED(f"task {task.task_id.hex()} was reported by {dispute.reporter}")
    if task.status in DECIDED:
        raise ALREADY_DECIDED(f"task {task.task_id.hex()}'s dispute closed "
                              f"{pb.TaskStatus.Name(task.status)}")
    fee = ctx.params("verification").report_fee_nicoin
    if fee:
        bank.send(ctx, reporter, keeper.reports_address(), fee)
    if dispute is not None and dispute.status == keeper.DISPUTED:
        keeper.put_dispute(ctx, replace(dispute, reporter=reporter, report_fee=fee))
    else:
        # No dispute, or one that closed undecided: the report opens a new one, in which
        # every verdict already posted counts again with its node's weight now.
        open_dispute(ctx, task, reporter=reporter, report_fee=fee, reason=reason)
    ctx.emit("verification_report", task_id=task.task_id.hex(), reporter=reporter,
             executor=task.executor, fee_nicoin=fee)
    return task
