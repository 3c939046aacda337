"""Voting weight as pricing and gov read it.

DESIGN.md section 1: voting weight comes from compute and is the validator's CometBFT
power. Until the Race sets it, that power comes from genesis; either way the staking
module holds it, and an account votes with the power of the validator it operates. This
file is the one place pricing and gov read weight from, so a new source changes only here.
"""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.staking import keeper as staking


def voting_weight(ctx: Context, account: str) -> int:
    """The voting weight an account votes with now (0 when it operates no validator)."""
    return int(staking.voting_power_of_account(ctx, account))


def total_voting_weight(ctx: Context) -> int:
    """The voting weight of all validators together."""
    return int(staking.total_voting_power(ctx))


def weighted_voters(ctx: Context) -> list[tuple[str | None, int]]:
    """Every validator with power: (operator account or None if unlinked, weight).

    Sorted by consensus address, the staking module's order, so callers iterate
    deterministically.
    """
    return [(validator.operator, int(validator.power))
            for validator in staking.validators(ctx) if validator.power > 0]
