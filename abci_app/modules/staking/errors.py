"""Staking refusals (codes 80-99)."""

from abci_app.core.errors import ErrorCode

INVALID_PUB_KEY = ErrorCode("staking", 80, "invalid validator public key")
INVALID_POWER = ErrorCode("staking", 81, "invalid validator power")
EMPTY_VALIDATOR_SET = ErrorCode("staking", 82, "validator set would be empty")
INVALID_GENESIS = ErrorCode("staking", 83, "invalid staking genesis")
UNKNOWN_VALIDATOR = ErrorCode("staking", 84, "unknown validator")
