"""Weighted shares: how many share indices each participant holds, and the threshold.

The beacon's participants are the nodes with the most voting weight (whitepaper Appendix
B: "the group of participants with the highest accumulated voting weights"), and a
participant's say in recovery follows its weight: it holds a number of *share units*
(share indices) proportional to its weight, at least one each, with a bounded total so a
deal's size and the chain's work per deal stay bounded. Integers only; every validator
computes the same allocation.

* When the weights, divided by their greatest common divisor, sum to at most the bound,
  those reduced weights are the units: the allocation is exactly proportional (four equal
  validators hold one unit each).
* Otherwise each participant first gets one unit and the remaining ``bound - n`` units are
  shared by largest remainder: ``floor(w·R / W)`` each, then one more to the participants
  with the largest remainders (ties to the lower address), so the total is exactly the
  bound.

The threshold is ``floor(total · threshold_ppm / 10^6) + 1`` units: with 500,000 ppm, just
over half of all units, so a coalition with at most half the weight can neither recover a
secret early nor block a recovery the rest can make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

PPM = 1_000_000


@dataclass(frozen=True)
class Allocation:
    """One participant's share indices: ``first_index .. first_index + units - 1``."""

    address: str
    weight: int
    units: int
    first_index: int

    @property
    def indices(self) -> range:
        return range(self.first_index, self.first_index + self.units)


def select_participants(weights: Sequence[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` heaviest ``(address, weight)`` pairs (ties to the lower address), in
    address order. Pairs with no weight never take part."""
    weighted = [(address, weight) for address, weight in weights if weight > 0]
    heaviest = sorted(weighted, key=lambda pair: (-pair[1], pair[0]))[:limit]
    return sorted(heaviest)


def share_units(weights: Sequence[tuple[str, int]], bound: int) -> list[Allocation]:
    """Units and index ranges for ``(address, weight)`` pairs sorted by address.

    Every weight must be positive and there must be at most ``bound`` participants.
    """
    count = len(weights)
    if count == 0:
        return []
    if count > bound:
        raise ValueError(f"{count} participants cannot each hold a unit of {bound}")
    if any(weight <= 0 for _, weight in weights):
        raise ValueError("every participant needs a positive weight")
    divisor = 0
    for _, weight in weights:
        divisor = gcd(divisor, weight)
    reduced = [weight // divisor for _, weight in weights]
    if sum(reduced) <= bound:
        units = reduced
    else:
        total_weight = sum(weight for _, weight in weights)
        spare = bound - count
        units = [1 + weight * spare // total_weight for _, weight in weights]
        leftover = bound - sum(units)
        by_remainder = sorted(range(count), key=lambda k: (
            -(weights[k][1] * spare % total_weight), weights[k][0]))
        for k in by_remainder[:leftover]:
            units[k] += 1
    allocations: list[Allocation] = []
    next_index = 1
    for (address, weight), held in zip(weights, units, strict=True):
        allocations.append(Allocation(address, weight, held, next_index))
        next_index += held
    return allocations


def threshold_units(total_units: int, threshold_ppm: int) -> int:
    """Shares needed to recover a secret: ``floor(total·ppm/10^6) + 1``, at most the total."""
    if total_units <= 0:
        return 0
    return min(total_units, total_units * threshold_ppm // PPM + 1)
