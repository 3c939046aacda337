"""Refusals of a params change (codes 13-19; the params framework itself uses 10-12)."""

from race_protocol.errors import ErrorCode

GOVERNANCE_ONLY = ErrorCode("params", 13, "only a passed proposal changes chain params")
INVALID_CHANGE = ErrorCode("params", 14, "invalid param change")
