"""Properties of the weighted median over random votes (hypothesis)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.modules.pricing.median import weighted_median

PRICES = st.integers(min_value=0, max_value=2**70)
WEIGHTS = st.integers(min_value=0, max_value=2**70)
VOTES = st.lists(st.tuples(PRICES, WEIGHTS), min_size=1, max_size=40).filter(
    lambda votes: sum(w for _, w in votes) > 0)


@settings(max_examples=500, deadline=None)
@given(VOTES)
def test_at_least_half_the_weight_lies_on_each_side(votes: list[tuple[int, int]]) -> None:
    median = weighted_median(votes)
    total = sum(w for _, w in votes)
    assert 2 * sum(w for p, w in votes if p <= median) >= total
    assert 2 * sum(w for p, w in votes if p >= median) >= total


@settings(max_examples=500, deadline=None)
@given(VOTES, st.randoms(use_true_random=False))
def test_voter_order_does_not_matter(votes: list[tuple[int, int]], rng: random.Random) -> None:
    shuffled = list(votes)
    rng.shuffle(shuffled)
    assert weighted_median(shuffled) == weighted_median(votes)


@settings(max_examples=300, deadline=None)
@given(VOTES, st.integers(min_value=1, max_value=10**6))
def test_scaling_every_weight_keeps_the_median(votes: list[tuple[int, int]], k: int) -> None:
    assert weighted_median([(p, w * k) for p, w in votes]) == weighted_median(votes)


@settings(max_examples=300, deadline=None)
@given(VOTES)
def test_the_median_lies_between_the_weighted_prices(votes: list[tuple[int, int]]) -> None:
    weighted = [p for p, w in votes if w]
    assert min(weighted) <= weighted_median(votes) <= max(weighted)
