"""Bank params."""

from dataclasses import dataclass

from abci_app.modules.bank.errors import INVALID_PARAMS

# DESIGN.md §4: supply cap 10^9 icoin = 10^18 nicoin (fits a signed 64-bit column).
SUPPLY_CAP_NICOIN = 10**18


@dataclass(frozen=True)
class BankParams:
    """Whether MsgSend is accepted, and the hard supply cap."""

    send_enabled: bool = True
    max_supply_nicoin: int = SUPPLY_CAP_NICOIN


def validate(params: BankParams) -> None:
    """The cap is positive and never above the 10^9 icoin of DESIGN.md §4."""
    if not 0 < params.max_supply_nicoin <= SUPPLY_CAP_NICOIN:
        raise INVALID_PARAMS(f"max_supply_nicoin must be in 1..{SUPPLY_CAP_NICOIN}")


def validate_in_state(params: BankParams, supply_nicoin: int) -> None:
    """A change by governance never puts the cap below the coins that exist (the supply
    invariant would break, and every mint fail)."""
    if params.max_supply_nicoin < supply_nicoin:
        raise INVALID_PARAMS(f"max_supply_nicoin {params.max_supply_nicoin} is below the "
                             f"supply ({supply_nicoin} nicoin)")
