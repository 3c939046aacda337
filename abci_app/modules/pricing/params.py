"""Chain parameters of the pricing module (whitepaper Appendix J)."""

from dataclasses import dataclass

from abci_app.modules.pricing.errors import INVALID_PARAMS

# Prices are stored in signed 64-bit columns.
MAX_STORABLE_PRICE = 2**63 - 1
MAX_HISTORY_LENGTH = 1_000_000


@dataclass(frozen=True)
class PricingParams:
    """Price parameters, in nicoin per unit of compute.

    ``genesis_price_per_unit_nicoin``: the first epoch's price, and the default vote of
    providers that never voted (Appendix J 4). ``max_price_per_unit_nicoin``: the largest
    vote accepted. ``history_length``: epochs of price history kept (1 to
    :data:`MAX_HISTORY_LENGTH`; the state stays bounded).
    """

    genesis_price_per_unit_nicoin: int = 1_000
    max_price_per_unit_nicoin: int = 1_000_000_000_000
    history_length: int = 10_000


def validate(params: PricingParams) -> None:
    """Prices are positive and storable; the maximum admits the genesis price."""
    if not 1 <= params.max_price_per_unit_nicoin <= MAX_STORABLE_PRICE:
        raise INVALID_PARAMS(
            f"max_price_per_unit_nicoin must be between 1 and {MAX_STORABLE_PRICE}, "
            f"got {params.max_price_per_unit_nicoin}"
        )
    if not 1 <= params.genesis_price_per_unit_nicoin <= params.max_price_per_unit_nicoin:
        raise INVALID_PARAMS(
            f"genesis_price_per_unit_nicoin must be between 1 and max_price_per_unit_nicoin "
            f"({params.max_price_per_unit_nicoin}), got {params.genesis_price_per_unit_nicoin}"
        )
    if not 1 <= params.history_length <= MAX_HISTORY_LENGTH:
        raise INVALID_PARAMS(f"history_length must be between 1 and {MAX_HISTORY_LENGTH}, "
                             f"got {params.history_length}")
