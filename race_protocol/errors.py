"""The shape of a chain refusal: a codespace, a numeric code and a log saying what to fix.

DESIGN.md section 3: a bad tx or query gets a non-zero code and a clear log, never an
exception on the ABCI socket. Codes are unique across the whole chain (each module owns a
range; docs/modules.md section 7). The chain raises :class:`ChainError`; clients compare a
result's code with the named :class:`ErrorCode` it means (``result.code ==
WRONG_SEQUENCE.code``), never with a bare number.
"""

from __future__ import annotations

from dataclasses import dataclass

_REGISTERED: dict[int, ErrorCode] = {}


class ChainError(Exception):
    """A refusal with an ABCI code; raised inside handlers, turned into a result by the app."""

    def __init__(self, code: int, codespace: str, log: str) -> None:
        super().__init__(log)
        self.code = code
        self.codespace = codespace
        self.log = log

    def __repr__(self) -> str:
        return f"ChainError(code={self.code}, codespace={self.codespace!r}, log={self.log!r})"


@dataclass(frozen=True)
class ErrorCode:
    """One named refusal reason. Call it with a log to get the :class:`ChainError` to raise."""

    codespace: str
    code: int
    description: str

    def __post_init__(self) -> None:
        if self.code <= 0:
            raise ValueError("error codes are positive; 0 means success")
        other = _REGISTERED.get(self.code)
        if other is not None and other != self:
            raise ValueError(f"error code {self.code} is both {other} and {self}")
        _REGISTERED[self.code] = self

    def __call__(self, log: str) -> ChainError:
        return ChainError(self.code, self.codespace, f"{self.description}: {log}")

    def matches(self, code: int) -> bool:
        """True when a result's ``code`` is this refusal."""
        return code == self.code


def registered_codes() -> dict[int, ErrorCode]:
    """Every error code defined so far, by number (for docs and tests)."""
    return dict(sorted(_REGISTERED.items()))
