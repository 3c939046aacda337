"""Error codes of the pricing module (range 100-199; docs/modules.md section 7)."""

from abci_app.core.errors import ErrorCode

INVALID_PRICE = ErrorCode("pricing", 100, "invalid price")
NO_VOTING_WEIGHT = ErrorCode("pricing", 101, "no voting weight")
PRICE_ABOVE_MAX = ErrorCode("pricing", 102, "price above the maximum")
VOTER_NOT_SIGNER = ErrorCode("pricing", 103, "voter is not the signer")
INVALID_ADDRESS = ErrorCode("pricing", 104, "invalid address")
INVALID_PARAMS = ErrorCode("pricing", 105, "invalid pricing params")
