"""Error codes of the epochs module (range 400-409; docs/modules.md section 7)."""

from abci_app.core.errors import ErrorCode

INVALID_PARAMS = ErrorCode("epochs", 400, "invalid epochs params")
