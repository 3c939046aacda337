"""The app's own refusals (codes 1-9), on top of the shared :mod:`race_protocol.errors`.

DESIGN.md §3: a bad tx gets a non-zero code and a clear log, never an exception on the
ABCI socket. Each module defines its codes in its own ``errors.py`` (ranges in
docs/modules.md §7).
"""

from __future__ import annotations

from race_protocol.errors import ChainError, ErrorCode, registered_codes

INTERNAL = ErrorCode("app", 1, "internal error")
UNKNOWN_QUERY_PATH = ErrorCode("app", 2, "unknown query path")
QUERY_HEIGHT_UNAVAILABLE = ErrorCode("app", 3, "query height unavailable")
BAD_QUERY = ErrorCode("app", 4, "bad query")
QUERY_TOO_COSTLY = ErrorCode("app", 5, "query exceeds its work budget")


class GenesisError(ValueError):
    """The app_state would be refused at InitChain; the message says why."""

__all__ = [
    "BAD_QUERY",
    "INTERNAL",
    "QUERY_HEIGHT_UNAVAILABLE",
    "QUERY_TOO_COSTLY",
    "UNKNOWN_QUERY_PATH",
    "ChainError",
    "ErrorCode",
    "GenesisError",
    "registered_codes",
]
