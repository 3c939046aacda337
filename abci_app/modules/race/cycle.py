"""The cycle: race, commit, sample, open, validate, and new power at the boundary
(whitepaper section 4, "The Race", and Appendix A; docs/race.md, "The cycle").

One cycle at a time, in the FinalizeBlock of these blocks:

1. **Seed.** A cycle waits for the first *complete* beacon output finalized after the
   previous cycle closed (a failed round's value is predictable, docs/beacon.md section
   4). That output is the race seed; the race window opens at the next block, so no node
   knows the seed before it. ``race_window_blocks`` later the race window ends and
   ``commit_window_blocks`` after that the commit deadline passes.
2. **Samples.** The first complete beacon output of a round whose reveal window began
   after the commit deadline (its commit window ends at or after the deadline) draws
   each committed node's sample ranks, so no node could choose its leaves knowing them.
   The opening window follows (``open_window_blocks``).
3. **Openings close.** A node that did not open every sample is caught (a commitment is a
   promise; not opening after seeing the sample is how a padded tree would hide). The
   nodes that opened everything are numbered for the attestation bitmaps, and the voting
   weight is fixed for the tally. The validation window follows.
4. **Boundary** (the last block of the validation window). If nodes holding more than
   half of the weight attested, each opened node is accepted (more than half of the weight
   counts it as passing, its own included: its count is its new weight), caught (more
   than half attest it fails) or rejected; the accepted counts, capped and scaled
   (race_protocol/race/power.py), become validator power through ``staking.set_power``
   in this block's ``validator_updates``, and every other validator fades to 0.
   Otherwise (too little weight attested, nobody opened, nobody accepted) the previous
   weights stay, caught nodes excepted. The next cycle starts waiting for its seed.
"""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.core.params import params_to_json
from abci_app.modules.beacon import keeper as beacon
from abci_app.modules.race import keeper
from abci_app.modules.race.keeper import Cycle, Entry
from abci_app.modules.staking import keeper as staking
from race_protocol.race.power import capped_powers, scale_to_limit

PRUNE_CYCLES_PER_CYCLE = 2
# New power is scaled to fit half of CometBFT's total: while one set replaces the other
# within a block, the old and new powers together stay within its limit.
POWER_LIMIT = staking.MAX_TOTAL_POWER // 2


def start_cycle(ctx: Context, cycle_id: int) -> Cycle:
    """Open ``cycle_id``, waiting for its seed, with the params in force now."""
    cycle = keeper.new_cycle(ctx, cycle_id, params_to_json(ctx.params("race")))
    ctx.emit("race_cycle_start", cycle=cycle_id)
    return cycle


def after_beacon_output(ctx: Context, round_id: int, output: bytes) -> None:
    """The beacon hook: a complete output seeds a waiting cycle's race, or draws the
    samples of a cycle past its commit deadline."""
    cycle = keeper.current_cycle(ctx)
    entry = beacon.get_round(ctx, round_id)
    if cycle is None or entry is None or entry.status != beacon.COMPLETE:
        return
    if cycle.status == keeper.AWAITING_SEED:
        open_race(ctx, cycle, round_id, output)
    elif cycle.status == keeper.AWAITING_SAMPLE and \
            entry.commit_end_height >= cycle.commit_end_height:
        draw_samples(ctx, cycle, round_id, output)


def open_race(ctx: Context, cycle: Cycle, round_id: int, output: bytes) -> Cycle:
    """The race window opens at the next block, seeded by ``output``."""
    params = cycle.race_params
    start = ctx.block.height + 1
    race_end = ctx.block.height + params.race_window_blocks
    commit_end = race_end + params.commit_window_blocks
    cycle = keeper.update_cycle(ctx, cycle, status=keeper.RACING, seed_round=round_id,
                                race_seed=output, race_start_height=start,
                                race_end_height=race_end, commit_end_height=commit_end)
    ctx.emit("race_window", cycle=cycle.cycle, seed_round=round_id, race_seed=output.hex(),
             race_start_height=start, race_end_height=race_end,
             commit_end_height=commit_end)
    return cycle


def draw_samples(ctx: Context, cycle: Cycle, round_id: int, output: bytes) -> Cycle:
    """Fix each committed node's samples (ranks follow from ``output``, the cycle and the
    node: :func:`keeper.ranks_of`); the opening window starts at the next block."""
    params = cycle.race_params
    open_end = ctx.block.height + params.open_window_blocks
    validation_end = open_end + params.validation_window_blocks
    for entry in keeper.entries(ctx, cycle.cycle):
        keeper.update_entry(ctx, entry, samples=min(params.sample_size, entry.count))
    cycle = keeper.update_cycle(ctx, cycle, status=keeper.OPENING, sample_round=round_id,
                                sample_seed=output, opened_height=ctx.block.height,
                                open_end_height=open_end,
                                validation_end_height=validation_end)
    ctx.emit("race_samples", cycle=cycle.cycle, sample_round=round_id,
             sample_seed=output.hex(), open_end_height=open_end,
             validation_end_height=validation_end, committed=cycle.committed)
    return cycle


def advance(ctx: Context) -> None:
    """The race module's end of block: close whichever window ends in this block."""
    cycle = keeper.current_cycle(ctx)
    if cycle is None:
        return
    height = ctx.block.height
    if cycle.status == keeper.RACING and height >= cycle.commit_end_height:
        close_commits(ctx, cycle)
    elif cycle.status == keeper.OPENING and height >= cycle.open_end_height:
        close_openings(ctx, cycle)
    elif cycle.status == keeper.VALIDATING and height >= cycle.validation_end_height:
        close_cycle(ctx, cycle)


def close_commits(ctx: Context, cycle: Cycle) -> None:
    """The commit deadline: wait for a sample draw, or close at once if nobody committed."""
    if cycle.committed == 0:
        close_cycle(ctx, cycle, "no node committed a proof")
        return
    keeper.update_cycle(ctx, cycle, status=keeper.AWAITING_SAMPLE)
    ctx.emit("race_commit_deadline", cycle=cycle.cycle, committed=cycle.committed)


def close_openings(ctx: Context, cycle: Cycle) -> None:
    """Catch every node that left a sample unopened; number the others for the bitmaps
    and fix the weight the tally is measured against."""
    opened: list[str] = []
    caught = 0
    for entry in keeper.entries(ctx, cycle.cycle):
        if entry.status == keeper.OPENED:
            keeper.update_entry(ctx, entry, validation_index=len(opened))
            opened.append(entry.operator)
        elif entry.status == keeper.COMMITTED:
            catch(ctx, cycle, entry, f"opened {entry.opened_samples} of its {entry.samples} "
                  f"sampled leaves by block {cycle.open_end_height}")
            caught += 1
    keeper.set_validation_order(ctx, cycle.cycle, opened)
    total = staking.total_voting_power(ctx)
    cycle = keeper.update_cycle(ctx, cycle, status=keeper.VALIDATING, opened=len(opened),
                                caught=cycle.caught + caught, total_weight=total)
    ctx.emit("race_validation", cycle=cycle.cycle, opened=len(opened), caught=caught,
             total_weight=total, validation_end_height=cycle.validation_end_height)
    if not opened:
        close_cycle(ctx, cycle, "no node opened its samples")


def catch(ctx: Context, cycle: Cycle, entry: Entry, reason: str) -> Entry:
    """Record ``entry``'s node as caught in ``cycle`` (weight 0 for it; the rewards rules
    read the record)."""
    keeper.bump_record(ctx, entry.operator, caught_in=cycle.cycle, reason=reason)
    ctx.emit("race_caught", cycle=cycle.cycle, operator=entry.operator, reason=reason)
    return keeper.update_entry(ctx, entry, status=keeper.CAUGHT, reason=reason)


def close_cycle(ctx: Context, cycle: Cycle, undecided: str = "") -> None:
    """The boundary: judge each opened node, set the new power, start the next cycle.

    ``undecided`` names why the cycle cannot decide before any tally (nobody committed or
    opened); the previous weights then stay.
    """
    decided = not undecided and cycle.attesting_weight * 2 > cycle.total_weight
    if not undecided and not decided:
        undecided = (f"only {keeper.share_ppm(cycle.attesting_weight, cycle.total_weight)} "
                     "ppm of the weight attested (more than half is needed)")
    accepted: dict[str, int] = {}
    caught: set[str] = set()
    pass_weights, fail_weights = keeper.tallies(ctx, cycle.cycle, cycle.opened)
    for entry in keeper.entries(ctx, cycle.cycle):
        if entry.status == keeper.CAUGHT:
            caught.add(entry.operator)
            continue
        if entry.status != keeper.OPENED:
            continue
        passes = pass_weights[entry.validation_index] + own_weight(ctx, entry.operator)
        fails = fail_weights[entry.validation_index]
        entry = keeper.update_entry(ctx, entry, pass_weight=passes, fail_weight=fails)
        if decided and passes * 2 > cycle.total_weight:
            keeper.update_entry(ctx, entry, status=keeper.ACCEPTED)
            accepted[entry.operator] = entry.count
        elif decided and fails * 2 > cycle.total_weight:
            catch(ctx, cycle, entry, f"{keeper.share_ppm(fails, cycle.total_weight)} ppm of "
                  "the weight attested that its sample does not recompute as valid proofs")
            caught.add(entry.operator)
        else:
            keeper.update_entry(ctx, entry, status=keeper.REJECTED, reason=undecided or (
                f"{keeper.share_ppm(passes, cycle.total_weight)} ppm of the weight attested "
                "it passes (more than half is needed)"))
    if decided and accepted:
        powers = scale_to_limit(
            capped_powers(accepted, cycle.race_params.max_power_share_ppm), POWER_LIMIT)
        outcome = keeper.DECIDED
        set_new_power(ctx, cycle, powers)
    else:
        outcome = keeper.KEPT_PREVIOUS
        undecided = undecided or "no node was accepted"
        drop_caught(ctx, caught)
    cycle = keeper.update_cycle(ctx, cycle, status=keeper.CLOSED, outcome=outcome,
                                accepted=len(accepted) if outcome == keeper.DECIDED else 0,
                                caught=len(caught))
    keeper.delete_openings(ctx, cycle.cycle)
    keeper.delete_tallies(ctx, cycle.cycle)
    ctx.emit("race_cycle_end", cycle=cycle.cycle, outcome=_outcome_name(outcome),
             accepted=cycle.accepted, caught=cycle.caught,
             attesting_weight=cycle.attesting_weight, total_weight=cycle.total_weight,
             reason=undecided if outcome == keeper.KEPT_PREVIOUS else "")
    _prune(ctx, cycle.cycle)
    # Whitepaper section 6: the cycle's rewards are judged once its catches are final.
    ctx.registry.hooks.run_race_cycle_closed(ctx, cycle.cycle)
    start_cycle(ctx, cycle.cycle + 1)


def own_weight(ctx: Context, operator: str) -> int:
    """A node's voting weight, which counts for its own opened proof: by opening its samples
    it vouches for them, and it cannot attest itself. With honest nodes holding more than
    half of the weight no cheater is accepted this way (it would need dishonest weight above
    half: its own and its colluders'), and an honest node is not refused because the nodes
    that can judge it, without it, fall short of half (one of four validators down)."""
    return staking.voting_power_of_account(ctx, operator)


def _outcome_name(outcome: int) -> str:
    return "decided" if outcome == keeper.DECIDED else "kept_previous"


def set_new_power(ctx: Context, cycle: Cycle, powers: dict[str, int]) -> None:
    """Accepted nodes get their power (new validators are linked to their operator);
    every other validator fades to 0. New powers are set first, so the set is never empty
    in between."""
    new_keys: set[bytes] = set()
    for operator in sorted(powers):
        provider = keeper.get_provider(ctx, operator)
        if provider is None:
            raise AssertionError(f"accepted node {operator} is not a provider")
        staking.set_power(ctx, provider.consensus_pub_key, powers[operator])
        validator = staking.get_validator(
            ctx, staking.consensus_address(provider.consensus_pub_key))
        if validator is not None and validator.operator != operator:
            staking.set_operator(ctx, provider.consensus_pub_key, operator)
        new_keys.add(provider.consensus_pub_key)
        entry = keeper.get_entry(ctx, cycle.cycle, operator)
        if entry is not None:
            keeper.update_entry(ctx, entry, new_power=powers[operator])
        keeper.bump_record(ctx, operator, accepted=1)
        ctx.emit("race_power", cycle=cycle.cycle, operator=operator, power=powers[operator])
    for validator in staking.validators(ctx):
        if validator.pub_key not in new_keys:
            staking.set_power(ctx, validator.pub_key, 0)


def drop_caught(ctx: Context, caught: set[str]) -> None:
    """Keep the previous weights, except that caught nodes drop to 0 (unless that would
    leave no validator)."""
    keys = []
    for operator in sorted(caught):
        provider = keeper.get_provider(ctx, operator)
        if provider is not None and staking.voting_power(
                ctx, staking.consensus_address(provider.consensus_pub_key)) > 0:
            keys.append(provider.consensus_pub_key)
    dropped = sum(staking.voting_power(ctx, staking.consensus_address(k)) for k in keys)
    if keys and dropped < staking.total_voting_power(ctx):
        for key in keys:
            staking.set_power(ctx, key, 0)


def _prune(ctx: Context, closed: int) -> None:
    """Drop the rows of cycles older than ``history_cycles``, a bounded number per cycle."""
    keep = ctx.params("race").history_cycles
    pruned = keeper.pruned_through(ctx)
    for _ in range(PRUNE_CYCLES_PER_CYCLE):
        if pruned + 1 > closed - keep:
            break
        pruned += 1
        keeper.delete_cycle_rows(ctx, pruned)


def broken_invariants(ctx: Context) -> list[str]:
    """What must hold between the cycle in progress, entries, openings and providers."""
    broken: list[str] = []
    cycle = keeper.current_cycle(ctx)
    if cycle is None:
        return ["no cycle is in progress"]
    if cycle.status == keeper.CLOSED:
        broken.append(f"cycle {cycle.cycle} is in progress but closed")
    entries = keeper.entries(ctx, cycle.cycle)
    if len(entries) != cycle.committed:
        broken.append(f"cycle {cycle.cycle} counts {cycle.committed} commitments, has "
                      f"{len(entries)} entries")
    for entry in entries:
        if entry.opened_samples > entry.samples:
            broken.append(f"{entry.operator} opened {entry.opened_samples} of "
                          f"{entry.samples} samples")
    if cycle.status == keeper.VALIDATING:
        order = keeper.validation_order(ctx, cycle.cycle)
        if len(order) != cycle.opened:
            broken.append(f"cycle {cycle.cycle} has {cycle.opened} opened nodes but "
                          f"{len(order)} bitmap positions")
    for table_cycle in sorted(keeper.cycles_with_openings(ctx)):
        if table_cycle != cycle.cycle:
            broken.append(f"openings of cycle {table_cycle} outlived it")
    for provider in keeper.providers(ctx):
        if keeper.provider_of_key(ctx, provider.consensus_pub_key) != provider.operator:
            broken.append(f"{provider.operator}'s consensus key is not indexed to it")
    return broken

