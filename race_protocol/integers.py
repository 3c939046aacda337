"""Integers written as text, read the same way by every node.

Python's ``int()`` and ``str.isdigit()`` accept any Unicode digit (``"٣"``, ``"３"``,
``"²"`` for ``isdigit``), and which characters count as digits changes with the Unicode
version of the interpreter: two validators on different Python versions could then
disagree on a proposal or a genesis file. Consensus reads integers only through this
module, which accepts ASCII ``0``-``9`` with an optional leading ``-`` and nothing else:
no spaces, no ``_`` separators, no ``+``, no trailing newline.
"""

from __future__ import annotations

import re
from typing import Any

# Enough digits for any 64-bit value and a little more, so that a range check (not
# Python's int-size limit) refuses a long number with a clear message.
MAX_DIGITS = 40
_DECIMAL = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")


def is_decimal(text: str) -> bool:
    """Whether ``text`` is an ASCII decimal integer (optionally negative)."""
    return isinstance(text, str) and _DECIMAL.fullmatch(text) is not None


def parse_decimal(text: str) -> int:
    """The integer an ASCII decimal string writes; ``ValueError`` for anything else."""
    if not is_decimal(text):
        raise ValueError(f"{text!r} is not a decimal integer (ASCII digits 0-9, "
                         f"at most {MAX_DIGITS})")
    return int(text, 10)


def integer_from_json(value: Any) -> int:
    """A JSON integer, or an ASCII decimal string (genesis files write 64-bit values as
    strings); ``ValueError`` for booleans, floats and anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_decimal(value)
    raise ValueError(f"{value!r} is not an integer")
