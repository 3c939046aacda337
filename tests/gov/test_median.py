"""The weighted median of price votes (whitepaper Appendix J, rules 3 and 4)."""

import pytest

from abci_app.modules.pricing.median import NoWeightError, next_epoch_price, weighted_median

UINT64_MAX = 2**64 - 1


def test_single_voter_sets_the_price() -> None:
    assert weighted_median([(42, 7)]) == 42


def test_heaviest_side_wins_over_the_voter_count() -> None:
    # Three light voters at 10 cannot outvote one heavy voter at 50.
    assert weighted_median([(10, 1), (10, 1), (10, 1), (50, 4)]) == 50


def test_the_median_is_not_the_mean() -> None:
    assert weighted_median([(1, 1), (2, 1), (1_000_000, 1)]) == 2


def test_equal_prices_merge_so_input_order_does_not_matter() -> None:
    votes = [(30, 2), (10, 3), (30, 3), (20, 1)]
    assert weighted_median(votes) == weighted_median(list(reversed(votes))) == 30


def test_even_split_takes_the_midpoint_rounded_down() -> None:
    assert weighted_median([(100, 5), (201, 5)]) == 150


def test_even_split_between_groups_of_several_voters() -> None:
    # Weight 4 at or below 20, weight 4 at or above 40: midpoint of 20 and 40.
    assert weighted_median([(10, 1), (20, 3), (40, 2), (90, 2)]) == 30


def test_just_over_half_does_not_take_the_midpoint() -> None:
    assert weighted_median([(100, 51), (200, 49)]) == 100


def test_zero_weight_voters_are_ignored() -> None:
    assert weighted_median([(1, 0), (5, 3), (9, 0), (1_000, 0)]) == 5


def test_no_weight_has_no_median() -> None:
    with pytest.raises(NoWeightError):
        weighted_median([(5, 0)])
    with pytest.raises(NoWeightError):
        weighted_median([])


def test_negative_or_fractional_input_is_refused() -> None:
    with pytest.raises(ValueError):
        weighted_median([(-1, 1)])
    with pytest.raises(ValueError):
        weighted_median([(1.5, 1)])  # type: ignore[list-item]


def test_overflow_sized_amounts_stay_exact() -> None:
    heavy = 2**80
    votes = [(UINT64_MAX, heavy), (UINT64_MAX - 1, heavy)]
    # An even split between the two largest uint64 values: exact midpoint, rounded down,
    # with no overflow on a sum of weights far beyond 64 bits.
    assert weighted_median(votes) == UINT64_MAX - 1
    assert weighted_median([(UINT64_MAX, heavy), (1, heavy - 1)]) == UINT64_MAX
    assert weighted_median([(UINT64_MAX, heavy), (UINT64_MAX - 2, heavy)]) == UINT64_MAX - 1


def test_non_voters_count_at_the_current_price() -> None:
    weights = {"race1a": 3, "race1b": 3, "race1c": 5}
    # Only a and b voted; c (weight 5) never did and holds the line at the current price.
    assert next_epoch_price(100, {"race1a": 500, "race1b": 600}, weights) == 500
    assert next_epoch_price(100, {"race1a": 500}, weights) == 100


def test_votes_from_accounts_without_weight_do_not_count() -> None:
    assert next_epoch_price(100, {"race1a": 900, "race1x": 1}, {"race1a": 1}) == 900


def test_no_weight_anywhere_keeps_the_price() -> None:
    assert next_epoch_price(77, {"race1a": 900}, {}) == 77
