"""Auth refusals (codes 40-59)."""

from abci_app.core.errors import ErrorCode

ACCOUNT_NOT_FOUND = ErrorCode("auth", 40, "account not found")
WRONG_SEQUENCE = ErrorCode("auth", 41, "wrong sequence")
FEE_TOO_LOW = ErrorCode("auth", 42, "fee too low")
INSUFFICIENT_FEE_FUNDS = ErrorCode("auth", 43, "insufficient funds for fee")
INVALID_ADDRESS = ErrorCode("auth", 44, "invalid address")
INVALID_PARAMS = ErrorCode("auth", 45, "invalid auth params")
INVALID_GENESIS = ErrorCode("auth", 46, "invalid auth genesis")
