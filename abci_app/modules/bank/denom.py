"""Denominations of the icoin (DESIGN.md §4): nicoin is the base unit, 10^-9 icoin.

State holds integers in nicoin only; these helpers parse and print amounts for people.
"""

from __future__ import annotations

import re

NICOIN_PER: dict[str, int] = {
    "nicoin": 1,
    "uicoin": 10**3,
    "micoin": 10**6,
    "icoin": 10**9,
}
DENOMS: tuple[str, ...] = ("icoin", "micoin", "uicoin", "nicoin")
BASE_DENOM = "nicoin"
_DIGITS = {denom: len(str(scale)) - 1 for denom, scale in NICOIN_PER.items()}
# ASCII only: ``\d`` and ``\s`` would otherwise match other scripts' digits and spaces.
_AMOUNT_RE = re.compile(r"[ \t]*([0-9]+)(?:\.([0-9]+))?[ \t]*([a-z]+)[ \t]*", re.ASCII)


class AmountError(ValueError):
    """An amount that cannot be read; the message says how to write it."""


def parse_amount(text: str) -> int:
    """``"1.5icoin"`` -> 1500000000; ``"300nicoin"`` -> 300. A denomination is required."""
    match = _AMOUNT_RE.fullmatch(text or "")
    if match is None:
        raise AmountError(
            f"cannot read amount {text!r}: write a number and a denomination, "
            f"e.g. 1.5icoin or 300nicoin (denominations: {', '.join(DENOMS)})"
        )
    whole, fraction, denom = match.group(1), match.group(2) or "", match.group(3)
    if denom not in NICOIN_PER:
        raise AmountError(f"unknown denomination {denom!r}; use one of {', '.join(DENOMS)}")
    digits = _DIGITS[denom]
    fraction = fraction.rstrip("0")
    if len(fraction) > digits:
        raise AmountError(
            f"{text!r} is finer than 1 nicoin; {denom} allows at most {digits} decimals"
        )
    whole_nicoin = int(whole, 10) * NICOIN_PER[denom]
    return whole_nicoin + (int(fraction.ljust(digits, "0"), 10) if fraction else 0)


def format_amount(nicoin: int) -> str:
    """Print in the largest denomination reached: 300 -> "300nicoin", 1.5e9 -> "1.5icoin"."""
    if nicoin < 0:
        return "-" + format_amount(-nicoin)
    for denom in DENOMS:
        scale = NICOIN_PER[denom]
        if nicoin >= scale or denom == BASE_DENOM:
            whole, rest = divmod(nicoin, scale)
            if not rest:
                return f"{whole}{denom}"
            fraction = str(rest).rjust(_DIGITS[denom], "0").rstrip("0")
            return f"{whole}.{fraction}{denom}"
    raise AssertionError("unreachable")
