"""Settled tickets become tasks verifiers may be drawn to check (whitepaper section 6,
"Randomized task verification"; docs/verification.md, "Tasks").

The inference module fires ``tickets_settled`` for every settlement; each ticket that
charged something becomes a task of the epoch in progress, recorded with what a check
needs (the prompt hash and output commitment the executor settled) and the *check rate*
that the executor's reputation gives it now (race_protocol.verification.draw). A ticket
that charged nothing pays nobody, so nothing is gained by cheating on it and it is not
checked. Each task is announced by a ``verification_task`` event, which is all a
verifier's agent needs to compute its draw.
"""

from __future__ import annotations

from collections.abc import Sequence

from abci_app.core.context import Context
from abci_app.core.hooks import SettledTask
from abci_app.modules.race import keeper as race
from abci_app.modules.rewards import keeper as rewards
from abci_app.modules.verification import keeper
from abci_app.modules.verification.audit import current_audit
from abci_app.modules.verification.keeper import Task
from race_protocol.verification.draw import check_rate_ppm, task_id


def check_rate(ctx: Context, executor: str) -> int:
    """Expected checks per task (ppm) for ``executor``'s tasks now (whitepaper section 6,
    "Reputation": a low reputation means more checks, up to every task)."""
    params = ctx.params("verification")
    return check_rate_ppm(rewards.reputation(ctx, executor),
                          min_rate_ppm=params.min_check_rate_ppm,
                          new_rate_ppm=params.new_executor_check_rate_ppm,
                          halving=params.rate_halving_reputation)


def after_tickets_settled(ctx: Context, executor: str, settled: Sequence[SettledTask]) -> None:
    """The inference hook: record each charged ticket as a task of the epoch in progress."""
    epoch = current_audit(ctx)
    cycle_row = race.current_cycle(ctx)
    cycle = 0 if cycle_row is None else cycle_row.cycle
    rate = check_rate(ctx, executor)
    recorded = 0
    for item in settled:
        if item.charged <= 0:
            continue
        task = keeper.put_task(ctx, Task(
            task_id=task_id(item.ticket_height, item.request_id),
            request_id=item.request_id, ticket_height=item.ticket_height,
            settled_height=ctx.block.height, epoch=epoch.epoch, cycle=cycle,
            executor=executor, model=item.model, developer=item.key_owner,
            key_hash=item.key_hash, charged=item.charged, prompt_hash=item.prompt_hash,
            output_commitment=item.output_commitment, rate_ppm=rate,
            status=keeper.SETTLED))
        recorded += 1
        ctx.emit("verification_task", task_id=task.task_id.hex(), executor=executor,
                 model=task.model, ticket_height=task.ticket_height,
                 request_id=task.request_id.hex(), check_rate_ppm=rate, epoch=epoch.epoch,
                 cycle=cycle)
    if recorded:
        keeper.update_epoch(ctx, epoch, tasks=epoch.tasks + recorded)
        keeper.add_epoch_cycle(ctx, epoch.epoch, cycle, recorded)


def prune(ctx: Context) -> None:
    """Drop tasks nothing can ask about any more: their epoch is audited, their report
    window has passed and no dispute is open on them; oldest first, at most
    ``audit_work_per_block`` per block."""
    params = ctx.params("verification")
    cutoff = ctx.block.height - params.report_window_blocks
    audited = keeper.state_value(ctx, keeper.AUDITED_THROUGH)
    for height, settled_id in list(keeper.tasks_from(ctx, 0, b"",
                                                     limit=params.audit_work_per_block)):
        if height >= cutoff:
            break
        task = keeper.get_task(ctx, settled_id)
        assert task is not None, f"task {settled_id.hex()} is indexed but has no row"
        if task.epoch > audited or task.status == keeper.DISPUTED:
            break
        keeper.delete_task(ctx, task)
