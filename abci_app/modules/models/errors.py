"""Error codes of the models module (range 200-299; docs/modules.md section 7)."""

from abci_app.core.errors import ErrorCode

GOVERNANCE_ONLY = ErrorCode("models", 200, "only governance changes the model registry")
INVALID_MODEL = ErrorCode("models", 201, "invalid model")
MODEL_EXISTS = ErrorCode("models", 202, "model id already registered")
MODEL_NOT_FOUND = ErrorCode("models", 203, "model not found")
MODEL_NOT_ACTIVE = ErrorCode("models", 204, "model is not active")
INVALID_PARAMS = ErrorCode("models", 205, "invalid models params")
