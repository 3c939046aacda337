"""Error codes of the rewards module (range 800-899; docs/modules.md section 7;
docs/rewards.md, "Errors")."""

from abci_app.core.errors import ErrorCode

INVALID_PARAMS = ErrorCode("rewards", 800, "invalid rewards params")
INVALID_GENESIS = ErrorCode("rewards", 801, "invalid rewards genesis")
INVALID_ADDRESS = ErrorCode("rewards", 802, "invalid address")
GOVERNANCE_ONLY = ErrorCode("rewards", 803, "only a passed governance proposal spends a fund")
UNKNOWN_FUND = ErrorCode("rewards", 804, "no such fund")
INVALID_AMOUNT = ErrorCode("rewards", 805, "invalid amount")
INSUFFICIENT_FUND = ErrorCode("rewards", 806, "the fund holds less than the grant")
INVALID_PURPOSE = ErrorCode("rewards", 807, "invalid grant purpose")
UNKNOWN_KIND = ErrorCode("rewards", 808, "unknown reward kind")
