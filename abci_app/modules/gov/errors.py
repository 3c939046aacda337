"""Error codes of the gov module (range 300-399; docs/modules.md section 7)."""

from abci_app.core.errors import ErrorCode

INVALID_PROPOSAL = ErrorCode("gov", 300, "invalid proposal")
PROPOSAL_NOT_FOUND = ErrorCode("gov", 301, "proposal not found")
PROPOSAL_CLOSED = ErrorCode("gov", 302, "proposal is closed")
NOT_IN_VOTING_PERIOD = ErrorCode("gov", 303, "proposal is not in its voting period")
NO_VOTING_WEIGHT = ErrorCode("gov", 304, "no voting weight")
INVALID_VOTE_OPTION = ErrorCode("gov", 305, "invalid vote option")
INVALID_DEPOSIT = ErrorCode("gov", 306, "invalid deposit")
INITIAL_DEPOSIT_TOO_LOW = ErrorCode("gov", 307, "initial deposit too low")
SIGNER_MISMATCH = ErrorCode("gov", 308, "address is not the signer")
INVALID_ADDRESS = ErrorCode("gov", 309, "invalid address")
INVALID_PARAMS = ErrorCode("gov", 311, "invalid gov params")
