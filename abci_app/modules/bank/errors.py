"""Bank refusals (codes 60-79)."""

from abci_app.core.errors import ErrorCode

INVALID_ADDRESS = ErrorCode("bank", 60, "invalid address")
INVALID_AMOUNT = ErrorCode("bank", 61, "invalid amount")
INSUFFICIENT_FUNDS = ErrorCode("bank", 62, "insufficient funds")
SIGNER_MISMATCH = ErrorCode("bank", 63, "from_address is not the signer")
SEND_DISABLED = ErrorCode("bank", 64, "sends are disabled")
SUPPLY_CAP_EXCEEDED = ErrorCode("bank", 65, "supply cap exceeded")
INVALID_GENESIS = ErrorCode("bank", 66, "invalid bank genesis")
INVALID_PARAMS = ErrorCode("bank", 67, "invalid bank params")
