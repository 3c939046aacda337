"""Epochs of verification: who verifies, their seeds, and the audit of every draw
(whitepaper section 6, "pseudo-random algorithm"; docs/verification.md, "The draw").

1. **Start.** When epoch ``E`` starts (the end-of-epoch hook of ``E-1``, or genesis for the
   first), the nodes with voting weight become its verifiers, each with the weight it has
   then; their total is fixed for the epoch.
2. **Commit.** A weighted node commits to its seed for ``E`` during ``E-1`` or ``E``
   (``MsgCommitVerifierSeed``). A commitment covers the tasks settled after its block, so
   a node can never commit knowing a task it would then be drawn for or not.
3. **Reveal.** After ``E``'s last block, for ``reveal_window_blocks``, each reveals its seed
   (``MsgRevealVerifierSeed``): it must hash to the commitment and be the node's signature
   over the epoch (race_protocol.verification.draw).
4. **Audit.** Then, a bounded amount per block (``audit_work_per_block`` draws), the chain
   recomputes every verifier's draw for every task of ``E`` and counts the tasks each was
   drawn for and posted a verdict on, per Race cycle. When the epoch is done the counts go
   to the rewards rules (``record_verification``): a node that skipped any drawn task
   loses its validation share. A verifier that never committed or never revealed cannot be
   audited; it is recorded as having skipped, in every cycle the epoch's tasks settled in.

Epochs are audited one at a time, in order; audited epochs are kept ``history_epochs``.
"""

from __future__ import annotations

from dataclasses import replace

from abci_app.core.context import Context
from abci_app.modules.auth import keeper as auth
from abci_app.modules.epochs import keeper as epochs
from abci_app.modules.epochs import weights
from abci_app.modules.rewards import keeper as rewards
from abci_app.modules.verification import keeper
from abci_app.modules.verification.errors import (
    ALREADY_COMMITTED,
    ALREADY_REVEALED,
    BAD_SEED_SIGNATURE,
    NOT_COMMITTED,
    NOT_WEIGHTED,
    REVEAL_WINDOW_CLOSED,
    SEED_MISMATCH,
    WRONG_EPOCH,
)
from abci_app.modules.verification.keeper import EpochAudit, VerifierEpoch
from race_protocol.inference.ticket import verify_signature
from race_protocol.verification.draw import chance_ppm, is_drawn, seed_commitment, seed_message

# Epoch rows dropped per block at most once they are older than history_epochs.
PRUNE_EPOCHS_PER_BLOCK = 2


def weights_by_operator(ctx: Context) -> dict[str, int]:
    """Voting weight now, summed per operator account (unlinked validators left out)."""
    found: dict[str, int] = {}
    for operator, weight in weights.weighted_voters(ctx):
        if operator is not None:
            found[operator] = found.get(operator, 0) + weight
    return found


def start_epoch(ctx: Context, epoch: int, start_height: int) -> EpochAudit:
    """Fix ``epoch``'s verifiers: the weighted nodes now, with their weights."""
    weighted = weights_by_operator(ctx)
    for operator in sorted(weighted):
        entry = keeper.get_verifier(ctx, epoch, operator)
        keeper.put_verifier(ctx, replace(entry, weight=weighted[operator]))
    total = sum(weighted.values())
    entry = keeper.put_epoch(ctx, EpochAudit(epoch=epoch, status=keeper.OPEN,
                                             start_height=start_height, total_weight=total))
    ctx.emit("verification_epoch_start", epoch=epoch, verifiers=len(weighted),
             total_weight=total)
    return entry


def current_audit(ctx: Context) -> EpochAudit:
    """The epoch in progress' row (started now if genesis could not: no weights yet)."""
    current = epochs.current_epoch(ctx)
    entry = keeper.get_epoch(ctx, current.number)
    if entry is None:
        entry = start_epoch(ctx, current.number, current.start_height)
    return entry


def after_epoch_end(ctx: Context, epoch: int) -> None:
    """The end-of-epoch hook: ``epoch``'s seeds may be revealed from the next block, and the
    next epoch's verifiers are fixed with the weights of this block (a Race boundary in
    this block has already set them)."""
    entry = keeper.get_epoch(ctx, epoch)
    if entry is None:
        entry = EpochAudit(epoch=epoch, status=keeper.OPEN,
                           start_height=epochs.current_epoch(ctx).start_height)
    reveal_end = ctx.block.height + ctx.params("verification").reveal_window_blocks
    keeper.put_epoch(ctx, replace(entry, status=keeper.REVEALING, end_height=ctx.block.height,
                                  reveal_end_height=reveal_end))
    ctx.emit("verification_epoch_end", epoch=epoch, tasks=entry.tasks,
             reveal_end_height=reveal_end)
    if keeper.get_epoch(ctx, epoch + 1) is None:
        start_epoch(ctx, epoch + 1, ctx.block.height + 1)


# --- seeds -----------------------------------------------------------------------------------

def commit_seed(ctx: Context, verifier: str, epoch: int, commitment: bytes) -> None:
    """Whitepaper section 6: the draw must be unpredictable to others, so the seed is fixed
    (committed) before the tasks it decides on exist."""
    current = epochs.current_epoch(ctx).number
    if epoch not in (current, current + 1):
        raise WRONG_EPOCH(f"epoch {epoch}: commit for the epoch in progress ({current}) or "
                          f"the next ({current + 1})")
    if weights.voting_weight(ctx, verifier) <= 0:
        raise NOT_WEIGHTED(f"{verifier} has no voting weight; only weighted nodes verify")
    entry = keeper.get_verifier(ctx, epoch, verifier)
    if entry.commitment:
        raise ALREADY_COMMITTED(f"{verifier} committed for epoch {epoch} at block "
                                f"{entry.commit_height}")
    keeper.put_verifier(ctx, replace(entry, commitment=commitment,
                                     commit_height=ctx.block.height))
    ctx.emit("verification_seed_committed", verifier=verifier, epoch=epoch)


def reveal_seed(ctx: Context, verifier: str, epoch: int, seed: bytes) -> None:
    """The seed must be the one committed, and the verifier's own signature over the epoch
    (whitepaper section 6: "other participants can independently verify that the signature
    is authentic and that it correctly served as the seed")."""
    entry = keeper.get_epoch(ctx, epoch)
    if entry is None or entry.status == keeper.OPEN:
        raise WRONG_EPOCH(f"epoch {epoch} has not ended; reveal after its last block")
    if entry.status != keeper.REVEALING or ctx.block.height > entry.reveal_end_height:
        raise REVEAL_WINDOW_CLOSED(f"epoch {epoch}'s seeds were due by block "
                                   f"{entry.reveal_end_height}")
    row = keeper.get_verifier(ctx, epoch, verifier)
    if not row.commitment:
        raise NOT_COMMITTED(f"{verifier} committed no seed for epoch {epoch}")
    if row.seed:
        raise ALREADY_REVEALED(f"{verifier}'s seed for epoch {epoch} is revealed")
    if seed_commitment(seed) != row.commitment:
        raise SEED_MISMATCH(f"the seed's hash is not {verifier}'s commitment for epoch {epoch}")
    account = auth.get_account(ctx, verifier)
    message = seed_message(ctx.block.chain_id, epoch)
    if account is None or account.public_key is None or \
            not verify_signature(account.public_key, seed, message):
        raise BAD_SEED_SIGNATURE(f"the seed must be {verifier}'s ed25519 signature over the "
                                 f"seed message of epoch {epoch} on {ctx.block.chain_id!r}")
    keeper.put_verifier(ctx, replace(row, seed=seed))
    ctx.emit("verification_seed_revealed", verifier=verifier, epoch=epoch)


# --- the audit -------------------------------------------------------------------------------

def advance(ctx: Context) -> None:
    """End of block: start the next audit once its reveal window closed, run the audit in
    progress for at most ``audit_work_per_block`` draws, prune old epochs."""
    budget = ctx.params("verification").audit_work_per_block
    auditing = keeper.state_value(ctx, keeper.AUDITING_EPOCH)
    if not auditing:
        due = keeper.get_epoch(ctx, keeper.state_value(ctx, keeper.AUDITED_THROUGH) + 1)
        if due is None or due.status != keeper.REVEALING or \
                due.reveal_end_height > ctx.block.height:
            prune_epochs(ctx)
            return
        auditing = due.epoch
        keeper.update_epoch(ctx, due, status=keeper.AUDITING, cursor_height=due.start_height,
                            cursor_task=b"")
        keeper.set_state_value(ctx, keeper.AUDITING_EPOCH, auditing)
        ctx.emit("verification_audit_start", epoch=auditing)
    entry = keeper.get_epoch(ctx, auditing)
    assert entry is not None, f"epoch {auditing} is being audited but has no row"
    if audit_step(ctx, entry, budget):
        finish_audit(ctx, auditing)
    prune_epochs(ctx)


def audit_step(ctx: Context, entry: EpochAudit, budget: int) -> bool:
    """Recompute the draws of the epoch's tasks from its cursor on, whole tasks at a time,
    until ``budget`` draws are spent (at least one task). True when the epoch is done."""
    rows = [v for v in keeper.verifiers(ctx, entry.epoch) if v.weight > 0]
    weight_of = {v.verifier: v.weight for v in rows}
    revealed = [v for v in rows if v.seed]
    counts: dict[tuple[str, int], list[int]] = {}
    finished = True
    cursor: tuple[int, bytes] = (entry.cursor_height, entry.cursor_task)
    drawn_total = done_total = 0
    for height, task_id in keeper.tasks_from(ctx, entry.cursor_height, entry.cursor_task):
        if height > entry.end_height:
            break
        if budget <= 0:
            finished = False
            cursor = (height, task_id)
            break
        task = keeper.get_task(ctx, task_id)
        assert task is not None, f"task {task_id.hex()} is indexed but has no row"
        eligible = entry.total_weight - weight_of.get(task.executor, 0)
        for verifier in revealed:
            if verifier.verifier == task.executor or verifier.commit_height >= height:
                continue
            chance = chance_ppm(task.rate_ppm, verifier.weight, eligible)
            if chance and is_drawn(verifier.seed, task_id, chance):
                tally = counts.setdefault((verifier.verifier, task.cycle), [0, 0])
                tally[0] += 1
                drawn_total += 1
                if keeper.has_check(ctx, task_id, verifier.verifier):
                    tally[1] += 1
                    done_total += 1
        budget -= max(1, len(revealed))
    for (verifier_address, cycle), (drawn, done) in sorted(counts.items()):
        keeper.add_duty(ctx, entry.epoch, verifier_address, cycle, drawn, done)
    keeper.update_epoch(ctx, entry, drawn=entry.drawn + drawn_total,
                        done=entry.done + done_total, cursor_height=cursor[0],
                        cursor_task=cursor[1])
    return finished


def finish_audit(ctx: Context, epoch: int) -> None:
    """Hand each verifier's counts to the rewards rules, per cycle; a weighted node with no
    revealed seed skipped its whole share of the epoch."""
    entry = keeper.get_epoch(ctx, epoch)
    assert entry is not None
    cycles = keeper.epoch_cycles(ctx, epoch)
    totals: dict[str, list[int]] = {}
    for verifier, cycle, drawn, done in keeper.duties(ctx, epoch):
        rewards.record_verification(ctx, verifier, cycle, drawn, done)
        tally = totals.setdefault(verifier, [0, 0])
        tally[0] += drawn
        tally[1] += done
    for row in keeper.verifiers(ctx, epoch):
        if row.weight <= 0:
            continue
        drawn, done = totals.get(row.verifier, [0, 0])
        unaudited = not row.seed and bool(cycles)
        if unaudited:
            for cycle in cycles:
                rewards.record_verification(ctx, row.verifier, cycle, 1, 0)
        skipped = unaudited or done < drawn
        keeper.put_verifier(ctx, VerifierEpoch(**{**row.__dict__, "drawn": drawn,
                                                  "done": done}))
        keeper.bump_record(ctx, row.verifier, epochs_audited=1,
                           epochs_skipped=1 if skipped else 0)
        ctx.emit("verification_audit", epoch=epoch, verifier=row.verifier, drawn=drawn,
                 done=done, revealed="true" if row.seed else "false",
                 skipped="true" if skipped else "false")
    keeper.update_epoch(ctx, entry, status=keeper.AUDITED)
    keeper.set_state_value(ctx, keeper.AUDITING_EPOCH, 0)
    keeper.set_state_value(ctx, keeper.AUDITED_THROUGH, epoch)
    ctx.emit("verification_audit_end", epoch=epoch, tasks=entry.tasks, drawn=entry.drawn,
             done=entry.done)


def prune_epochs(ctx: Context) -> None:
    """Drop audited epochs older than ``history_epochs``, a few per block."""
    keep = ctx.params("verification").history_epochs
    current = epochs.current_epoch(ctx).number
    old = []
    for entry in keeper.epochs(ctx):
        if len(old) >= PRUNE_EPOCHS_PER_BLOCK or entry.epoch > current - keep \
                or entry.status != keeper.AUDITED:
            break
        old.append(entry.epoch)
    for epoch in old:
        keeper.delete_epoch(ctx, epoch)
