"""Error codes of the inference module (range 700-799; docs/modules.md section 7).

Tickets refused at settlement each have their own code, so an executor (and a test) can
tell a replay from a forgery from a relay the chain does not know.
"""

from abci_app.core.errors import ErrorCode

INVALID_PARAMS = ErrorCode("inference", 700, "invalid inference params")
INVALID_GENESIS = ErrorCode("inference", 701, "invalid inference genesis")
INVALID_ADDRESS = ErrorCode("inference", 702, "invalid address")
SIGNER_MISMATCH = ErrorCode("inference", 703, "the message's account is not the tx signer")
INVALID_KEY_HASH = ErrorCode("inference", 704, "invalid API key hash")
KEY_EXISTS = ErrorCode("inference", 705, "API key already registered")
KEY_NOT_FOUND = ErrorCode("inference", 706, "API key not found")
KEY_NOT_ACTIVE = ErrorCode("inference", 707, "API key is revoked or expired")
INVALID_BUDGET = ErrorCode("inference", 708, "invalid API key budget")
TOO_MANY_KEYS = ErrorCode("inference", 709, "too many API keys")
INVALID_MODELS = ErrorCode("inference", 710, "invalid model list")
INVALID_EXPIRY = ErrorCode("inference", 711, "invalid API key expiry")
NOT_KEY_OWNER = ErrorCode("inference", 712, "the signer does not own the API key")
MODEL_NOT_SERVABLE = ErrorCode("inference", 713, "the model is not active in the registry")
INVALID_ENDPOINT = ErrorCode("inference", 714, "invalid executor endpoint")
NOT_SERVING = ErrorCode("inference", 715, "the provider does not serve the model")
INVALID_RELAY_KEY = ErrorCode("inference", 716, "invalid relay key")
BAD_RELAY_PROOF = ErrorCode("inference", 717, "the relay key's registration proof does not verify")
RELAY_EXISTS = ErrorCode("inference", 718, "relay key already registered")
RELAY_NOT_FOUND = ErrorCode("inference", 719, "relay key not registered")
NOT_RELAY_OWNER = ErrorCode("inference", 720, "the signer does not own the relay key")
MALFORMED_TICKET = ErrorCode("inference", 721, "malformed ticket")
FORGED_TICKET = ErrorCode("inference", 722, "the ticket's signature does not verify")
UNREGISTERED_RELAY = ErrorCode("inference", 723, "the ticket's relay is not registered")
TICKET_ALREADY_SETTLED = ErrorCode("inference", 724, "ticket already settled")
TICKET_EXPIRED = ErrorCode("inference", 725, "ticket expired")
WRONG_EXECUTOR = ErrorCode("inference", 726, "the ticket names another executor")
TOO_MANY_TICKETS = ErrorCode("inference", 727, "too many tickets in one settlement")
TICKET_NOT_YET_VALID = ErrorCode("inference", 728, "ticket height is not a committed height")
EMPTY_SETTLEMENT = ErrorCode("inference", 729, "a settlement needs at least one ticket")
