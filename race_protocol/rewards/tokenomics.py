"""The whitepaper's tokenomics in integers (Appendix E, "Tokenomics"; Appendix F, "Reasoning
behind the Proportional Coin Issuance Model"; DESIGN.md section 4; docs/rewards.md).

* **Supply.** 10^9 icoin (10^18 nicoin). At genesis 40% exists: 16% founders, 12% the
  early top providers' reward, 12% the provider liquidity pool. The other 60%, the core
  incentive, is never pre-minted: it is issued.
* **Batches.** The core incentive is issued in 12 batches of 50M icoin. While batch ``i``
  is being issued, every coin of fees developers pay makes the network mint
  ``s_i / (1 - s_i)`` coins on top, where the subsidy share
  ``s_i = 9·4^(i-1) / (10·5^(i-1))`` starts at 90% and falls by a fifth per batch. Kept
  as exact rationals: the fees a batch needs are ``50M · (1 - s_i) / s_i``, and issuing the
  whitepaper's fee column reproduces its table to the coin.
* **Minimum issuance.** At least 5% of the supply in the first year, halving every year,
  measured in block time: ``minimum(y) = supply · 50,000 ppm / 2^y``, due pro rata over the
  year.

Everything here is pure: the chain (``abci_app.modules.rewards``), the CLI's
``race tokenomics`` and the adversarial simulator use the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PPM = 1_000_000
NICOIN_PER_ICOIN = 10**9
SUPPLY_NICOIN = 10**9 * NICOIN_PER_ICOIN
BATCH_NICOIN = 50_000_000 * NICOIN_PER_ICOIN
BATCHES = 12
CORE_INCENTIVE_NICOIN = BATCHES * BATCH_NICOIN
MINIMUM_ISSUANCE_PPM = 50_000
YEAR_SECONDS = 365 * 24 * 3600

# Appendix E: what exists at genesis, as parts per million of the supply.
GENESIS_ALLOCATIONS_PPM: tuple[tuple[str, int], ...] = (
    ("founders", 160_000),
    ("top_providers", 120_000),
    ("liquidity_pool", 120_000),
)
CORE_INCENTIVE_PPM = 600_000


def subsidy_share(batch: int) -> tuple[int, int]:
    """``s_batch`` as (numerator, denominator): 9/10 for batch 1, times 4/5 per batch."""
    if not 1 <= batch <= BATCHES:
        raise ValueError(f"batches are numbered 1 to {BATCHES}, got {batch}")
    return 9 * 4 ** (batch - 1), 10 * 5 ** (batch - 1)


def issuance_ratio(batch: int) -> tuple[int, int]:
    """``s / (1 - s)`` for the batch, as (numerator, denominator): coins minted per coin of
    fees (9 in batch 1: a developer spending X lets providers earn up to 10X)."""
    numerator, denominator = subsidy_share(batch)
    return numerator, denominator - numerator


def fees_to_fill(batch: int, amount: int = BATCH_NICOIN) -> int:
    """The fees (nicoin, rounded up) that make batch ``batch`` mint ``amount``:
    ``ceil(amount · (1 - s) / s)``."""
    numerator, denominator = issuance_ratio(batch)
    return -(-amount * denominator // numerator)


@dataclass(frozen=True)
class BatchProgress:
    """What the batch being issued has received so far."""

    # Core incentive minted so far, over every batch (fee-driven and minimum issuance).
    issued: int = 0
    # Fees credited to the current batch, and what they minted (``floor(fees · ratio)``).
    batch_fees: int = 0
    batch_fee_minted: int = 0

    @property
    def batch(self) -> int:
        """The batch being issued (``BATCHES + 1`` once the core incentive is issued)."""
        return min(self.issued // BATCH_NICOIN + 1, BATCHES + 1)


@dataclass(frozen=True)
class BatchStep:
    """Part of one issuance that fell in one batch."""

    batch: int
    fees: int
    minted: int
    completed: bool


def issue_for_fees(progress: BatchProgress, fees: int, limit: int
                   ) -> tuple[BatchProgress, list[BatchStep]]:
    """Mint for ``fees`` of developer payments, batch by batch, never past ``limit`` total
    core issuance. Returns the new progress and what fell in each batch.

    Within a batch the fee-driven mint is ``floor(batch fees · ratio)``, so many small
    settlements mint exactly what one large one would. When a batch fills, the fees needed
    to fill it (:func:`fees_to_fill`, less what it had) stay with it and the rest of the
    payment moves on to the next batch at its lower ratio. Fees paid after the last batch
    (or past ``limit``) mint nothing.
    """
    if fees < 0:
        raise ValueError("fees must not be negative")
    steps: list[BatchStep] = []
    limit = min(limit, CORE_INCENTIVE_NICOIN)
    while fees > 0 and progress.issued < limit:
        batch = progress.batch
        numerator, denominator = issuance_ratio(batch)
        room = min(batch * BATCH_NICOIN, limit) - progress.issued
        target = (progress.batch_fees + fees) * numerator // denominator
        added = target - progress.batch_fee_minted
        if added < room:
            progress = replace(progress, issued=progress.issued + added,
                               batch_fees=progress.batch_fees + fees, batch_fee_minted=target)
            steps.append(BatchStep(batch, fees, added, False))
            fees = 0
            break
        wanted = progress.batch_fee_minted + room
        needed = max(0, -(-wanted * denominator // numerator) - progress.batch_fees)
        needed = min(needed, fees)
        issued = progress.issued + room
        completed = issued == batch * BATCH_NICOIN
        steps.append(BatchStep(batch, needed, room, completed))
        fees -= needed
        progress = (BatchProgress(issued) if completed else
                    replace(progress, issued=issued, batch_fees=progress.batch_fees + needed,
                            batch_fee_minted=wanted))
    return progress, steps


def issue_minimum(progress: BatchProgress, amount: int, limit: int
                  ) -> tuple[BatchProgress, list[BatchStep]]:
    """Mint ``amount`` of minimum issuance (no fees), batch by batch, never past ``limit``.
    It fills batches like fee-driven issuance does, without changing their fee ratio."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    steps: list[BatchStep] = []
    limit = min(limit, CORE_INCENTIVE_NICOIN)
    while amount > 0 and progress.issued < limit:
        batch = progress.batch
        room = min(batch * BATCH_NICOIN, limit) - progress.issued
        part = min(room, amount)
        issued = progress.issued + part
        completed = issued == batch * BATCH_NICOIN
        steps.append(BatchStep(batch, 0, part, completed))
        amount -= part
        progress = BatchProgress(issued) if completed else replace(progress, issued=issued)
    return progress, steps


def minimum_for_year(year: int, supply: int = SUPPLY_NICOIN,
                     share_ppm: int = MINIMUM_ISSUANCE_PPM) -> int:
    """The minimum issuance of year ``year`` (0 is the first): ``supply · share / 2^year``."""
    if year < 0:
        raise ValueError("years are counted from 0")
    if year >= 128:
        return 0
    return supply * share_ppm // PPM >> year


def minimum_due(year: int, elapsed_ns: int, year_ns: int, supply: int = SUPPLY_NICOIN,
                share_ppm: int = MINIMUM_ISSUANCE_PPM) -> int:
    """The part of year ``year``'s minimum due ``elapsed_ns`` into it (pro rata, floor)."""
    elapsed_ns = max(0, min(elapsed_ns, year_ns))
    return minimum_for_year(year, supply, share_ppm) * elapsed_ns // year_ns


@dataclass(frozen=True)
class BatchRow:
    """One row of Appendix F's table: the batch's subsidy, the fees it needs and the total
    paid to providers, in nicoin, and the subsidy share in ppm (rounded)."""

    batch: int
    subsidy_share_ppm: int
    subsidy: int
    fees: int
    total: int


def schedule() -> list[BatchRow]:
    """Appendix F's table as the chain computes it (fees rounded up to the nicoin)."""
    rows = []
    for batch in range(1, BATCHES + 1):
        numerator, denominator = subsidy_share(batch)
        fees = fees_to_fill(batch)
        rows.append(BatchRow(batch, (numerator * PPM + denominator // 2) // denominator,
                             BATCH_NICOIN, fees, BATCH_NICOIN + fees))
    return rows


def to_icoin_rounded(nicoin: int) -> int:
    """Nicoin to whole icoin, rounding half up (how the whitepaper's table is written)."""
    return (nicoin + NICOIN_PER_ICOIN // 2) // NICOIN_PER_ICOIN
