"""The weighted median of price votes (whitepaper Appendix J, "Market-driven pricing").

Each voter with voting weight submits a price per unit of compute; at the end of an epoch
the weighted median of the submissions becomes the price for the next epoch. A voter that
never voted counts at the current price (the genesis parameter in the first epoch).

The rule, in integers only:

* Votes are grouped by price and sorted ascending; equal prices are one group, so the order
  in which voters are listed never matters (ties are well defined).
* Zero-weight voters carry no weight and are ignored.
* Let ``W`` be the total weight. Walk the groups from the cheapest, accumulating weight
  ``C``. The median is the first price where ``2*C > W`` (strictly more than half the weight
  lies at or below it).
* Even totals: if ``2*C == W`` exactly at price ``p`` (the weight splits in two equal
  halves), the median is the midpoint of ``p`` and the next price, rounded down:
  ``p + (q - p) // 2``. This is the ordinary median of an even count, and it cannot favour
  the cheap or the expensive half.
* With no weight at all the price does not change.

Python integers do not overflow, and every intermediate value is an exact integer, so the
result is the same on every validator for any amounts, however large.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class NoWeightError(ValueError):
    """Raised when the votes carry no weight, so no median exists."""


def weighted_median(votes: Iterable[tuple[int, int]]) -> int:
    """Return the weighted median of ``(price, weight)`` pairs.

    Enforces Appendix J rule 3b (weighted median). Prices and weights must be non-negative
    integers; pairs with zero weight are ignored. Raises :class:`NoWeightError` when the
    total weight is zero, and :class:`ValueError` for negative or non-integer input.
    """
    weight_at_price: dict[int, int] = {}
    for price, weight in votes:
        if type(price) is not int or type(weight) is not int:
            raise ValueError("prices and weights must be integers")
        if price < 0 or weight < 0:
            raise ValueError("prices and weights must be non-negative")
        if weight:
            weight_at_price[price] = weight_at_price.get(price, 0) + weight
    total = sum(weight_at_price.values())
    if total == 0:
        raise NoWeightError("no voting weight")
    prices = sorted(weight_at_price)
    cumulative = 0
    for index, price in enumerate(prices):
        cumulative += weight_at_price[price]
        if 2 * cumulative > total:
            return price
        if 2 * cumulative == total:
            upper = prices[index + 1]
            return price + (upper - price) // 2
    raise AssertionError("unreachable: cumulative weight always reaches the total")


def next_epoch_price(
    current_price: int,
    votes: Mapping[str, int],
    weights: Mapping[str, int],
) -> int:
    """The price per unit of compute for the next epoch.

    Enforces Appendix J rules 3b, 3c and 4: every voter in ``weights`` counts with its
    weight; its vote is ``votes[voter]`` if it ever voted, else ``current_price``. Votes
    from accounts that hold no weight are ignored. With no weight at all the price stays.
    """
    pairs = [
        (votes.get(voter, current_price), weight)
        for voter, weight in sorted(weights.items())
    ]
    try:
        return weighted_median(pairs)
    except NoWeightError:
        return current_price
