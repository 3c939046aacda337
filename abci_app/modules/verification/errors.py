"""Error codes of the verification module (range 900-999; docs/modules.md section 7;
docs/verification.md, "Errors").

Each refusal names what to fix; a refused message changes nothing (a refused verdict
refuses its whole message, and the log names it: "verdict N").
"""

from abci_app.core.errors import ErrorCode

INVALID_PARAMS = ErrorCode("verification", 900, "invalid verification params")
INVALID_GENESIS = ErrorCode("verification", 901, "invalid verification genesis")
INVALID_ADDRESS = ErrorCode("verification", 902, "invalid address")
SIGNER_MISMATCH = ErrorCode("verification", 903, "the message's account is not the tx signer")
NOT_WEIGHTED = ErrorCode("verification", 904, "the signer has no voting weight")
WRONG_EPOCH = ErrorCode("verification", 905, "not an epoch this message may name now")
INVALID_COMMITMENT = ErrorCode("verification", 906, "invalid seed commitment")
ALREADY_COMMITTED = ErrorCode("verification", 907, "a seed is already committed for the epoch")
NOT_COMMITTED = ErrorCode("verification", 908, "no seed was committed for the epoch")
REVEAL_WINDOW_CLOSED = ErrorCode("verification", 909, "the epoch's reveal window is closed")
SEED_MISMATCH = ErrorCode("verification", 910, "the seed does not match its commitment")
BAD_SEED_SIGNATURE = ErrorCode("verification", 911,
                               "the seed is not the signer's signature for the epoch")
ALREADY_REVEALED = ErrorCode("verification", 912, "the seed is already revealed")
NO_VERDICTS = ErrorCode("verification", 913, "a message needs at least one verdict")
TOO_MANY_VERDICTS = ErrorCode("verification", 914, "too many verdicts in one message")
INVALID_VERDICT = ErrorCode("verification", 915, "malformed verdict")
TASK_NOT_FOUND = ErrorCode("verification", 916, "no such settled task")
SELF_VERDICT = ErrorCode("verification", 917, "an executor cannot judge its own task")
ALREADY_JUDGED = ErrorCode("verification", 918, "the node already judged this task")
NOT_A_VERIFIER = ErrorCode("verification", 919, "the signer is not a verifier of the epoch")
TASK_CLOSED = ErrorCode("verification", 920, "the task's epoch is being audited")
INVALID_REQUEST_ID = ErrorCode("verification", 921, "invalid request id")
AMBIGUOUS_REQUEST = ErrorCode("verification", 922,
                              "the request id names several tasks: give the ticket height")
NOT_TASK_OWNER = ErrorCode("verification", 923, "the signer does not own the task's API key")
REPORT_WINDOW_CLOSED = ErrorCode("verification", 924, "the task is too old to report")
ALREADY_REPORTED = ErrorCode("verification", 925, "the task was reported already")
ALREADY_DECIDED = ErrorCode("verification", 926, "the task's dispute is decided")
