"""Auth params: envelope limits and the minimum fee (spam protection)."""

from dataclasses import dataclass

from abci_app.modules.auth.errors import INVALID_PARAMS


@dataclass(frozen=True)
class AuthParams:
    """Limits every tx must respect; changed only by governance."""

    max_tx_bytes: int = 65536
    max_messages: int = 32
    max_memo_bytes: int = 256
    min_fee_nicoin: int = 1000


def validate(params: AuthParams) -> None:
    """Limits must be positive; a zero minimum fee is allowed (test networks)."""
    if params.max_tx_bytes < 256:
        raise INVALID_PARAMS("max_tx_bytes must be at least 256")
    if params.max_messages < 1:
        raise INVALID_PARAMS("max_messages must be at least 1")
    if params.max_memo_bytes < 0:
        raise INVALID_PARAMS("max_memo_bytes must not be negative")
    if params.min_fee_nicoin < 0:
        raise INVALID_PARAMS("min_fee_nicoin must not be negative")
