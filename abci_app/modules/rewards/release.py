"""The cycle boundary: catches, the minimum issuance, and the release of held rewards
(whitepaper section 6, "Reward accumulation and distribution", "Reputation", "Workload
proof"; DESIGN.md section 8; docs/rewards.md, "Release").

Fired by the race module's boundary through the ``race_cycle_closed`` hook
(``abci_app.wiring.hooks``), in the boundary block, after the new power is set:

1. **Catches.** Nodes the Race caught in the cycle (docs/race.md, "Validation and
   attestation") forfeit its held rewards, as nodes the verification module catches do.
2. **Minimum issuance.** If the core issuance of the year so far lacks the minimum due by
   now, the shortfall is minted and shared among the cycle's nodes by the units of compute
   they served (by weight when nobody served any), caught nodes excepted.
3. **Release** of the cycle ``release_delay_cycles`` back (0: this one). For each node, in
   address order:

   * caught: everything is forfeited (already, at the catch);
   * skipped a drawn check, or more false flags than ``max_false_flags_per_cycle``: the
     validation share (verifier rewards and its part of the verification pool) is forfeited;
     a node that skipped ``s`` of its ``d`` drawn checks also forfeits ``s / d`` of its
     work rewards (executor share and issuance), so that skipping a check costs more than
     the replay it saves;
   * its fair share of tasks is ``T · w / W`` (``T`` the cycle's tasks, ``w`` its weight,
     ``W`` the cycle's weight); once that is at least ``min_expected_tasks``, a node that
     executed ``t < T · w / W · min_work_share_ppm / 10^6`` tasks is paid only
     ``t / (T · w / W · min_work_share_ppm / 10^6)`` of what is left, the rest withheld;
   * the rest is paid to the node. Reputation grows by one when none of these applied.

   Forfeited and withheld coins go to the forfeit pool. The verification pool is divided
   by checks done (``done``); with no check done, among the executors by what they earned.
4. **Weights.** The voting weight every node holds now is recorded as the next cycle's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.race import keeper as race
from abci_app.modules.rewards import issuance, keeper
from abci_app.modules.rewards.keeper import NodeCycle
from abci_app.modules.staking import keeper as staking

PPM = 1_000_000
# At most this many cycles are released at one boundary (more fall due only after
# governance shortens the delay); the rest follow at the next boundaries.
MAX_RELEASES_PER_BOUNDARY = 4
PRUNE_CYCLES_PER_RELEASE = 2
PRUNED_THROUGH = "pruned_through"


def after_race_cycle_closed(ctx: Context, cycle: int) -> None:
    """The race module's boundary of ``cycle``: steps 1-4 of the module docstring."""
    record_race_catches(ctx, cycle)
    share_minimum_issuance(ctx, cycle)
    due = cycle - ctx.params("rewards").release_delay_cycles
    for _ in range(MAX_RELEASES_PER_BOUNDARY):
        following = keeper.released_through(ctx) + 1
        if following > due:
            break
        release_cycle(ctx, following)
    snapshot_weights(ctx, cycle + 1)


def record_race_catches(ctx: Context, cycle: int) -> None:
    for entry in race.entries(ctx, cycle):
        if entry.status == race.CAUGHT:
            keeper.record_caught(ctx, entry.operator, cycle, f"race: {entry.reason}")


def snapshot_weights(ctx: Context, cycle: int) -> None:
    """Record each operator's voting weight as its weight in ``cycle``."""
    weights: dict[str, int] = {}
    for validator in staking.validators(ctx):
        if validator.operator and validator.power > 0:
            weights[validator.operator] = weights.get(validator.operator, 0) + validator.power
    total = 0
    for node in sorted(weights):
        entry = keeper.get_node(ctx, cycle, node)
        keeper.put_node(ctx, replace(entry, weight=weights[node]))
        total += weights[node]
    totals = keeper.get_cycle(ctx, cycle)
    keeper.put_cycle(ctx, replace(totals, weight=total))


def _divide(amount: int, weights: Sequence[tuple[str, int]]) -> dict[str, int]:
    """``amount`` divided in proportion to ``weights`` (positive), the rounding remainder to
    the first; empty when there is no weight."""
    total = sum(weight for _, weight in weights)
    if amount <= 0 or total <= 0:
        return {}
    parts = {node: amount * weight // total for node, weight in weights}
    first = weights[0][0]
    parts[first] += amount - sum(parts.values())
    return parts


def share_minimum_issuance(ctx: Context, cycle: int) -> int:
    """Appendix F, "Minimum independent Coin issuance": "if demand is so low that the set
    minimum coin issuance is not fully utilized, this minimum issuance will still be
    distributed among those who have contributed work, in proportion to their efforts"."""
    entries = [e for e in keeper.nodes_of(ctx, cycle) if not e.caught]
    by_units = [(e.node, e.units) for e in entries if e.units > 0]
    by_weight = [(e.node, e.weight) for e in entries if e.weight > 0]
    recipients = by_units or by_weight
    if not recipients:
        return 0
    minted = issuance.mint_minimum(ctx, issuance.minimum_shortfall(ctx))
    for node, part in sorted(_divide(minted, recipients).items()):
        if part:
            keeper.accrue(ctx, node, cycle, part, keeper.ISSUANCE)
    if minted:
        keeper.add_to_cycle(ctx, keeper.open_cycle(ctx, cycle), minimum_issuance=minted)
    return minted


def _work_short(entry: NodeCycle, tasks: int, weight: int, min_expected: int,
                min_share: int) -> bool:
    """Whether the node executed less than ``min_share`` of its fair share of tasks, once
    that fair share (``tasks · w / weight``) reaches ``min_expected``."""
    if weight <= 0 or entry.weight <= 0 or tasks * entry.weight < min_expected * weight:
        return False
    return entry.tasks * PPM * weight < tasks * entry.weight * min_share


def _pool_parts(ctx: Context, pool: int, entries: Sequence[NodeCycle],
                executor_held: dict[str, int]) -> dict[str, int]:
    by_checks = [(e.node, e.done) for e in entries if e.done > 0]
    if by_checks:
        return _divide(pool, by_checks)
    return _divide(pool, [(node, amount) for node, amount in sorted(executor_held.items())
                          if amount > 0])


def release_cycle(ctx: Context, cycle: int) -> None:
    """Step 3 of the module docstring for ``cycle``."""
    params = ctx.params("rewards")
    totals = keeper.get_cycle(ctx, cycle)
    entries = keeper.nodes_of(ctx, cycle)
    held = {entry.node: keeper.take_held(ctx, cycle, entry.node) for entry in entries}
    executor_held = {node: kinds.get(keeper.EXECUTOR, 0) for node, kinds in held.items()}
    pool = _pool_parts(ctx, totals.verification_pool, entries, executor_held)
    unclaimed = totals.verification_pool - sum(pool.values())
    total_tasks = sum(entry.tasks for entry in entries)
    total_weight = sum(entry.weight for entry in entries)
    released = 0
    forfeited = unclaimed
    for entry in entries:
        kinds = held[entry.node]
        record = keeper.get_reputation(ctx, entry.node)
        validation = kinds.get(keeper.VERIFIER, 0) + pool.get(entry.node, 0)
        work = kinds.get(keeper.EXECUTOR, 0) + kinds.get(keeper.ISSUANCE, 0)
        lost = 0
        outcomes: list[str] = []
        if entry.caught:
            lost, keep = validation + work, 0
            outcomes.append(keeper.CAUGHT)
        else:
            if (entry.drawn > entry.done or entry.false_flags > params.max_false_flags_per_cycle
                    or record.pending_lapses > 0):
                lost += validation
                validation = 0
                outcomes.append(keeper.VALIDATION_LOST)
            if entry.drawn > entry.done:
                # Skipping saves the replays' compute; the same part of the work rewards
                # goes, so skipping never pays (docs/rewards.md, "Skipped checks").
                skipped_cut = work * (entry.drawn - entry.done) // entry.drawn
                lost += skipped_cut
                work -= skipped_cut
            keep = work + validation
            if _work_short(entry, total_tasks, total_weight, params.min_expected_tasks,
                           params.min_work_share_ppm):
                paid = keep * entry.tasks * PPM * total_weight // (
                    total_tasks * entry.weight * params.min_work_share_ppm)
                lost += keep - paid
                keep = paid
                outcomes.append(keeper.WORK_SHORT)
        if keep:
            bank.send(ctx, keeper.escrow_address(), entry.node, keep)
        if lost:
            bank.send(ctx, keeper.escrow_address(), keeper.forfeit_pool_address(), lost)
        outcome = ",".join(outcomes) or keeper.RELEASED
        keeper.put_node(ctx, replace(entry, outcome=outcome, released=keep,
                                     forfeited=entry.forfeited + lost))
        released += keep
        forfeited += lost
        if keep or lost:
            ctx.emit("rewards_released", node=entry.node, cycle=cycle, released_nicoin=keep,
                     forfeited_nicoin=lost, outcome=outcome)
        _update_reputation(ctx, entry, record, outcomes, took_part=bool(
            entry.weight or entry.tasks or entry.done or keep))
    if unclaimed:
        bank.send(ctx, keeper.escrow_address(), keeper.forfeit_pool_address(), unclaimed)
    keeper.put_cycle(ctx, replace(totals, released=released,
                                  forfeited=totals.forfeited + forfeited,
                                  release_height=ctx.block.height))
    keeper.set_state_value(ctx, keeper.RELEASED_THROUGH, cycle)
    ctx.emit("rewards_cycle_released", cycle=cycle, released_nicoin=released,
             forfeited_nicoin=forfeited, nodes=len(entries))
    _prune(ctx, cycle)


def _update_reputation(ctx: Context, entry: NodeCycle, record: keeper.Reputation,
                       outcomes: list[str], took_part: bool) -> None:
    """Whitepaper section 6, "Reputation": one more for each clean cycle (a cycle the node
    took part in with none of the release rules applying, and no catch since); a catch
    reset it already."""
    if entry.caught:
        return
    changed = record
    if keeper.VALIDATION_LOST in outcomes and record.pending_lapses:
        changed = replace(changed, pending_lapses=0)
    # A catch in a later cycle (recorded before this release) already reset it.
    caught_since = record.last_caught_cycle > entry.cycle
    if not outcomes and took_part and not caught_since:
        changed = replace(changed, reputation=changed.reputation + 1,
                          clean_cycles=changed.clean_cycles + 1)
        ctx.emit("rewards_reputation", node=entry.node, reputation=changed.reputation,
                 reason="clean cycle")
    if changed != record:
        keeper.put_reputation(ctx, changed)


def _prune(ctx: Context, released: int) -> None:
    """Drop released cycles' summaries older than ``history_cycles``, a bounded number per
    release."""
    keep = ctx.params("rewards").history_cycles
    pruned = keeper.state_value(ctx, PRUNED_THROUGH)
    for _ in range(PRUNE_CYCLES_PER_RELEASE):
        if pruned + 1 > released - keep:
            break
        pruned += 1
        keeper.delete_cycle_rows(ctx, pruned)
    keeper.set_state_value(ctx, PRUNED_THROUGH, pruned)
