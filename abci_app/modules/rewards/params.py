"""Chain parameters of the rewards module (whitepaper section 6, "Reward accumulation and
distribution", "Workload proof", "Bounty reward"; Appendices F and K; docs/rewards.md).

Every bound keeps the chain live whatever governance votes (DESIGN.md section 3,
docs/modules.md section 5): nothing here can make a tx fail or stop a proposal. The worst a
value can do is hold rewards longer (``release_delay_cycles`` at most
:data:`MAX_RELEASE_DELAY_CYCLES`, so every cycle is released) or release less (every
ppm share is at most 10^6). The issuance split always sums to 10^6, so an issuance never
creates or loses a nicoin beyond what it mints; a bounty stays strictly below an average
node's earnings (``bounty_cap_ppm`` below 10^6); the minimum issuance is at most the
whitepaper's 5% of the supply in the first year.

The issuance split is a list of named shares (:data:`ISSUANCE_SHARES`), like the fee split
of the inference module (``abci_app.modules.inference.params.FEE_SHARES``): the same
recipients, so one set of params expresses every seed's economics (docs/rewards.md,
"Parameter sets").
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.modules.rewards.errors import INVALID_PARAMS
from race_protocol.rewards.tokenomics import MINIMUM_ISSUANCE_PPM, PPM

MAX_RELEASE_DELAY_CYCLES = 100
MAX_EXPECTED_TASKS = 1_000_000_000
MAX_FALSE_FLAGS = 1_000_000
MAX_HISTORY_CYCLES = 1_000_000

# The issuance split's shares in payment order; the first takes the rounding remainder.
ISSUANCE_SHARES: tuple[tuple[str, str], ...] = (
    ("executor", "issuance_executor_share_ppm"),
    ("verifier", "issuance_verifier_share_ppm"),
    ("training_fund", "issuance_training_fund_share_ppm"),
    ("model_owner", "issuance_model_owner_share_ppm"),
    ("community_pool", "issuance_community_pool_share_ppm"),
)


@dataclass(frozen=True)
class RewardsParams:
    """``release_delay_cycles``: a cycle's held rewards are released at the boundary of the
    cycle this many cycles later (0: its own boundary), so disputes, reports and verifier
    reveals about its tasks land first. ``min_work_share_ppm``: the part of its fair share
    of tasks (its weight's share of all tasks) a node must execute; the work rule applies
    once that fair share is at least ``min_expected_tasks``. ``max_false_flags_per_cycle``:
    a verifier with more false flags in a cycle loses its validation share.
    ``bounty_cap_ppm``: a reporter's bounties in a cycle are at most this share of the
    average node's accrued rewards in it. ``minimum_issuance_ppm``: the first year's
    minimum issuance as a share of the supply cap, halving yearly. ``history_cycles``:
    released cycles' summaries kept for queries. ``issuance_*_share_ppm``: the issuance
    split, summing to 10^6."""

    release_delay_cycles: int = 1
    min_work_share_ppm: int = 250_000
    min_expected_tasks: int = 20
    max_false_flags_per_cycle: int = 1
    bounty_cap_ppm: int = 500_000
    minimum_issuance_ppm: int = MINIMUM_ISSUANCE_PPM
    history_cycles: int = 1000
    issuance_executor_share_ppm: int = 750_000
    issuance_verifier_share_ppm: int = 50_000
    issuance_training_fund_share_ppm: int = 200_000
    issuance_model_owner_share_ppm: int = 0
    issuance_community_pool_share_ppm: int = 0


def issuance_shares(params: RewardsParams) -> list[tuple[str, int]]:
    """The issuance split as ``(recipient kind, ppm)`` in payment order."""
    return [(name, getattr(params, field)) for name, field in ISSUANCE_SHARES]


def _bounded(params: RewardsParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        raise INVALID_PARAMS(f"{name} must be between {low} and {high}, got {value}")


def validate(params: RewardsParams) -> None:
    """Every bound in the module docstring; the log names the field and its range."""
    _bounded(params, "release_delay_cycles", 0, MAX_RELEASE_DELAY_CYCLES)
    _bounded(params, "min_work_share_ppm", 0, PPM)
    _bounded(params, "min_expected_tasks", 1, MAX_EXPECTED_TASKS)
    _bounded(params, "max_false_flags_per_cycle", 0, MAX_FALSE_FLAGS)
    _bounded(params, "bounty_cap_ppm", 0, PPM - 1)
    _bounded(params, "minimum_issuance_ppm", 0, MINIMUM_ISSUANCE_PPM)
    _bounded(params, "history_cycles", 1, MAX_HISTORY_CYCLES)
    for _, field in ISSUANCE_SHARES:
        _bounded(params, field, 0, PPM)
    total = sum(ppm for _, ppm in issuance_shares(params))
    if total != PPM:
        raise INVALID_PARAMS(f"the issuance shares ({', '.join(f for _, f in ISSUANCE_SHARES)})"
                             f" must sum to {PPM} ppm, got {total}")
