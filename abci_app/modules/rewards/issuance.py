"""Issuance of the core incentive on chain (whitepaper Appendices E and F; DESIGN.md section
4; docs/rewards.md, "Issuance"). The rules are race_protocol.rewards.tokenomics; this file
keeps their progress in the rewards tables and mints through ``bank.mint``.

* **Fee-driven.** Each settlement's charge makes the network mint ``fees · s_i / (1 - s_i)``
  in batch ``i`` (:func:`mint_for_fees`), into the rewards escrow; the caller divides it.
* **Minimum.** At each Race cycle's boundary (:func:`mint_minimum`), the core issuance of
  the year so far is compared with the minimum due by then (5% of the supply cap in year
  one, halving yearly; years counted in block time from genesis); the shortfall is minted
  and shared by the cycle's work.
* **Limits.** Issuance never passes the core incentive allowance (600M icoin unless genesis
  says otherwise) nor the bank's supply cap (``bank.mint`` refuses past it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import keeper, tables
from race_protocol.rewards.tokenomics import (
    BATCH_NICOIN,
    BATCHES,
    CORE_INCENTIVE_NICOIN,
    YEAR_SECONDS,
    BatchProgress,
    BatchStep,
    issue_for_fees,
    issue_minimum,
    minimum_due,
    minimum_for_year,
)

YEAR_NS = YEAR_SECONDS * 10**9
# A chain stopped for longer than this many years owes nothing more for the older ones
# (the minimum halves to nothing long before).
MAX_YEARS_OWED = 128

# rewards_state names.
ISSUED = "issued"
BATCH_FEES = "batch_fees"
BATCH_FEE_MINTED = "batch_fee_minted"
FEES_TOTAL = "fees_total"
CORE_ALLOWANCE = "core_allowance"
GENESIS_TIME_NS = "genesis_time_ns"
MINIMUM_YEAR = "minimum_year"
MINIMUM_YEAR_ISSUED = "minimum_year_issued"
MINIMUM_OWED = "minimum_owed"
MINIMUM_ISSUED = "minimum_issued"


def progress(ctx: Context) -> BatchProgress:
    return BatchProgress(keeper.state_value(ctx, ISSUED), keeper.state_value(ctx, BATCH_FEES),
                         keeper.state_value(ctx, BATCH_FEE_MINTED))


def core_allowance(ctx: Context) -> int:
    return keeper.state_value(ctx, CORE_ALLOWANCE)


def issuance_limit(ctx: Context) -> int:
    """The most core issuance there can be now: the allowance, and no more than the supply
    cap leaves room for."""
    issued = keeper.state_value(ctx, ISSUED)
    room = ctx.params("bank").max_supply_nicoin - bank.supply(ctx)
    return min(core_allowance(ctx), issued + max(room, 0))


# --- batches --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """One batch's record (``rewards_batches``)."""

    batch: int
    fees: int = 0
    fee_minted: int = 0
    minimum_minted: int = 0
    completed_height: int = 0
    completed_time_ns: int = 0

    @property
    def minted(self) -> int:
        return self.fee_minted + self.minimum_minted

    def as_json(self) -> dict[str, str]:
        return {"batch": str(self.batch), "fees_nicoin": str(self.fees),
                "fee_minted_nicoin": str(self.fee_minted),
                "minimum_minted_nicoin": str(self.minimum_minted),
                "subsidy_nicoin": str(self.minted),
                "total_nicoin": str(self.minted + self.fees),
                "completed_height": str(self.completed_height),
                "completed_time_ns": str(self.completed_time_ns)}


def get_batch(ctx: Context, batch: int) -> Batch:
    row = ctx.table(tables.BATCHES).get(batch)
    return Batch(batch) if row is None else Batch(batch, **row)


def put_batch(ctx: Context, entry: Batch) -> None:
    ctx.table(tables.BATCHES).put(entry.batch, {
        "fees": entry.fees, "fee_minted": entry.fee_minted,
        "minimum_minted": entry.minimum_minted, "completed_height": entry.completed_height,
        "completed_time_ns": entry.completed_time_ns})


def batches(ctx: Context) -> list[Batch]:
    """Every batch that received anything, in order (at most 12)."""
    return [Batch(int(key[0]), **row) for key, row in ctx.table(tables.BATCHES).scan()]


def _record(ctx: Context, steps: Sequence[BatchStep], *, minimum: bool) -> None:
    for step in steps:
        entry = get_batch(ctx, step.batch)
        entry = Batch(step.batch, entry.fees + step.fees,
                      entry.fee_minted + (0 if minimum else step.minted),
                      entry.minimum_minted + (step.minted if minimum else 0),
                      ctx.block.height if step.completed else 0,
                      ctx.block.time_ns if step.completed else 0)
        put_batch(ctx, entry)
        if step.completed:
            ctx.emit("tokenomics_batch_completed", batch=step.batch, fees_nicoin=entry.fees,
                     subsidy_nicoin=entry.minted, total_nicoin=entry.minted + entry.fees)


def _save(ctx: Context, state: BatchProgress) -> None:
    keeper.set_state_value(ctx, ISSUED, state.issued)
    keeper.set_state_value(ctx, BATCH_FEES, state.batch_fees)
    keeper.set_state_value(ctx, BATCH_FEE_MINTED, state.batch_fee_minted)


# --- the year -------------------------------------------------------------------------------

def year_of(ctx: Context) -> int:
    """The issuance year the block is in (0 is the first), from block time."""
    elapsed = ctx.block.time_ns - keeper.state_value(ctx, GENESIS_TIME_NS)
    return max(elapsed, 0) // YEAR_NS


def _supply_basis(ctx: Context) -> int:
    """"5% of the total supply": the supply cap."""
    return int(ctx.params("bank").max_supply_nicoin)


def roll_year(ctx: Context) -> None:
    """Close the years that ended since the last issuance: what their minimum still lacked
    is owed, and paid out at the next cycle boundary."""
    year = year_of(ctx)
    last = keeper.state_value(ctx, MINIMUM_YEAR)
    if year <= last:
        return
    share = ctx.params("rewards").minimum_issuance_ppm
    owed = keeper.state_value(ctx, MINIMUM_OWED)
    issued = keeper.state_value(ctx, MINIMUM_YEAR_ISSUED)
    for past in range(max(last, year - MAX_YEARS_OWED), year):
        minimum = minimum_for_year(past, _supply_basis(ctx), share)
        owed += max(0, minimum - (issued if past == last else 0))
    keeper.set_state_value(ctx, MINIMUM_OWED, owed)
    keeper.set_state_value(ctx, MINIMUM_YEAR, year)
    keeper.set_state_value(ctx, MINIMUM_YEAR_ISSUED, 0)


def minimum_shortfall(ctx: Context) -> int:
    """What the minimum issuance lacks now: the year-to-date minimum less the year's core
    issuance, plus what earlier years still owe."""
    roll_year(ctx)
    year = year_of(ctx)
    start = keeper.state_value(ctx, GENESIS_TIME_NS) + year * YEAR_NS
    due = minimum_due(year, ctx.block.time_ns - start, YEAR_NS, _supply_basis(ctx),
                      ctx.params("rewards").minimum_issuance_ppm)
    lacking = max(0, due - keeper.state_value(ctx, MINIMUM_YEAR_ISSUED))
    return lacking + keeper.state_value(ctx, MINIMUM_OWED)


# --- minting --------------------------------------------------------------------------------

def mint_for_fees(ctx: Context, fees: int) -> int:
    """Appendix F: mint ``fees · s_i / (1 - s_i)`` for ``fees`` nicoin of developer payments,
    batch by batch, into the rewards escrow. Returns what was minted (0 after the last
    batch)."""
    if fees <= 0:
        return 0
    roll_year(ctx)
    keeper.set_state_value(ctx, FEES_TOTAL, keeper.state_value(ctx, FEES_TOTAL) + fees)
    state, steps = issue_for_fees(progress(ctx), fees, issuance_limit(ctx))
    minted = sum(step.minted for step in steps)
    _record(ctx, steps, minimum=False)
    _save(ctx, state)
    if minted:
        bank.mint(ctx, keeper.escrow_address(), minted)
        keeper.set_state_value(ctx, MINIMUM_YEAR_ISSUED,
                               keeper.state_value(ctx, MINIMUM_YEAR_ISSUED) + minted)
    ctx.emit("tokenomics_issuance", fees_nicoin=fees, minted_nicoin=minted,
             batch=state.batch, issued_nicoin=state.issued)
    return minted


def mint_minimum(ctx: Context, amount: int) -> int:
    """Mint up to ``amount`` of minimum issuance into the rewards escrow (what earlier years
    owe first); returns what was minted."""
    if amount <= 0:
        return 0
    state, steps = issue_minimum(progress(ctx), amount, issuance_limit(ctx))
    minted = sum(step.minted for step in steps)
    if minted == 0:
        return 0
    _record(ctx, steps, minimum=True)
    _save(ctx, state)
    bank.mint(ctx, keeper.escrow_address(), minted)
    owed = keeper.state_value(ctx, MINIMUM_OWED)
    from_owed = min(owed, minted)
    keeper.set_state_value(ctx, MINIMUM_OWED, owed - from_owed)
    keeper.set_state_value(ctx, MINIMUM_YEAR_ISSUED,
                           keeper.state_value(ctx, MINIMUM_YEAR_ISSUED) + minted - from_owed)
    keeper.set_state_value(ctx, MINIMUM_ISSUED,
                           keeper.state_value(ctx, MINIMUM_ISSUED) + minted)
    ctx.emit("tokenomics_minimum_issuance", minted_nicoin=minted, batch=state.batch,
             issued_nicoin=state.issued)
    return minted


# --- the invariant --------------------------------------------------------------------------

def broken_invariants(ctx: Context) -> list[str]:
    """Issued = what the batches minted <= the allowance <= the core incentive; at most
    one batch is open."""
    broken = []
    issued = keeper.state_value(ctx, ISSUED)
    recorded = batches(ctx)
    minted = sum(entry.minted for entry in recorded)
    if minted != issued:
        broken.append(f"batches minted {minted} nicoin but {issued} is recorded as issued")
    if issued > core_allowance(ctx) or core_allowance(ctx) > CORE_INCENTIVE_NICOIN:
        broken.append(f"issued {issued} past the allowance {core_allowance(ctx)}")
    for entry in recorded:
        if entry.minted > BATCH_NICOIN or not 1 <= entry.batch <= BATCHES:
            broken.append(f"batch {entry.batch} minted {entry.minted} nicoin")
        if (entry.minted == BATCH_NICOIN) != (entry.completed_height > 0):
            broken.append(f"batch {entry.batch} minted {entry.minted} nicoin but its "
                          f"completion height is {entry.completed_height}")
    return broken
