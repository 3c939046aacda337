"""What a settled request costs and who receives it (whitepaper Appendix J; DESIGN.md
sections 4 and 7.4).

A request costs ``tokens x units_of_compute_per_token x price per unit`` (prompt and
completion tokens alike), never more than its ticket's max cost and never more than the
key has left. The charge is split by the fee-split params, each a share in parts per
million; the first share (the executor's) also takes what integer division leaves, so
the parts always add up to the charge exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

PPM = 1_000_000


def worst_case_cost(tokens: int, units_per_token: int, price_per_unit: int) -> int:
    """The most ``tokens`` can cost: what a relay puts in a ticket as its max cost."""
    return tokens * units_per_token * price_per_unit


def charge(prompt_tokens: int, completion_tokens: int, units_per_token: int,
           price_per_unit: int, max_cost: int, remaining: int) -> int:
    """What one ticket is charged: its tokens at the price, capped by the ticket's max cost
    and the key's remaining budget."""
    full = (prompt_tokens + completion_tokens) * units_per_token * price_per_unit
    return max(0, min(full, max_cost, remaining))


def split(amount: int, shares_ppm: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """``amount`` split by ``(name, ppm)`` shares summing to 10^6, in the order given; the
    first share gets its part plus the rounding remainder."""
    if sum(ppm for _, ppm in shares_ppm) != PPM:
        raise ValueError("fee shares must sum to 1,000,000 ppm")
    parts = [(name, amount * ppm // PPM) for name, ppm in shares_ppm]
    remainder = amount - sum(part for _, part in parts)
    first_name, first_part = parts[0]
    return [(first_name, first_part + remainder), *parts[1:]]
