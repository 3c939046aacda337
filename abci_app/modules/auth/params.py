"""Auth params: envelope limits and the minimum fee (spam protection).

Each bound keeps the chain live whatever governance votes (DESIGN.md §3; the table in
docs/modules.md §5): a tx must stay large enough, and its fee small enough, that a
proposal undoing a change can still be submitted, deposited on and voted for.
"""

from dataclasses import dataclass

from abci_app.modules.auth.errors import INVALID_PARAMS

# A proposal carrying a param change, and a vote, fit with room to spare.
MIN_MAX_TX_BYTES = 4096
# CometBFT's default mempool.max_tx_bytes: a larger tx never reaches the app.
MAX_MAX_TX_BYTES = 1_048_576
MAX_MAX_MESSAGES = 256
MAX_MAX_MEMO_BYTES = 16_384
# 1 icoin: a fee every voter can pay (the default is 1000 nicoin).
MAX_MIN_FEE_NICOIN = 10**9


@dataclass(frozen=True)
class AuthParams:
    """Limits every tx must respect; changed only by governance."""

    max_tx_bytes: int = 65536
    max_messages: int = 32
    max_memo_bytes: int = 256
    min_fee_nicoin: int = 1000


def _check_range(params: AuthParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        raise INVALID_PARAMS(f"{name} must be between {low} and {high}, got {value}")


def validate(params: AuthParams) -> None:
    """Every bound in the module docstring; a zero minimum fee is allowed (test networks)."""
    _check_range(params, "max_tx_bytes", MIN_MAX_TX_BYTES, MAX_MAX_TX_BYTES)
    _check_range(params, "max_messages", 1, MAX_MAX_MESSAGES)
    _check_range(params, "max_memo_bytes", 0, MAX_MAX_MEMO_BYTES)
    _check_range(params, "min_fee_nicoin", 0, MAX_MIN_FEE_NICOIN)
