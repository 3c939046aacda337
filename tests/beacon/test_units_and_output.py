"""Weighted share units, the threshold, and the output hash (race_protocol.beacon)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from race_protocol.beacon import output, units

ADDRESSES = [f"race1p{i:03d}" for i in range(300)]
weights_strategy = st.lists(st.integers(1, 10**12), min_size=1, max_size=128)


def weighted(weights: list[int]) -> list[tuple[str, int]]:
    return list(zip(ADDRESSES, weights, strict=False))


@given(weights=weights_strategy, bound=st.integers(1, 256))
def test_units_tile_the_indices_within_the_bound_with_one_each_at_least(
        weights: list[int], bound: int) -> None:
    pairs = weighted(weights)[:bound]
    allocation = units.share_units(pairs, bound)
    assert all(a.units >= 1 for a in allocation)
    assert sum(a.units for a in allocation) <= bound
    assert [a.first_index for a in allocation] == [
        1 + sum(a.units for a in allocation[:k]) for k in range(len(allocation))]


@given(weights=weights_strategy, bound=st.integers(1, 256))
def test_a_heavier_participant_never_holds_fewer_units(weights: list[int], bound: int) -> None:
    allocation = units.share_units(weighted(weights)[:bound], bound)
    by_weight = sorted(allocation, key=lambda a: (a.weight, a.units))
    assert [a.units for a in by_weight] == sorted(a.units for a in by_weight)


def test_equal_weights_hold_one_unit_each_and_proportional_weights_exactly() -> None:
    equal = units.share_units(weighted([10, 10, 10, 10]), 64)
    assert [a.units for a in equal] == [1, 1, 1, 1]
    exact = units.share_units(weighted([30, 10, 20]), 64)
    assert [a.units for a in exact] == [3, 1, 2]


def test_weights_that_do_not_reduce_share_the_bound_by_largest_remainder() -> None:
    allocation = units.share_units(weighted([1_000_003, 2_000_001, 7]), 10)
    # One unit each, then 7 more in proportion: 2.33 and 4.67 and 0.00, so 2 and 4, and
    # the last spare unit goes to the largest remainder (0.67).
    assert [a.units for a in allocation] == [3, 6, 1]


@given(total=st.integers(1, 256), ppm=st.integers(500_000, 999_999))
def test_the_threshold_is_more_than_half_and_never_more_than_all(total: int, ppm: int) -> None:
    threshold = units.threshold_units(total, ppm)
    assert 2 * threshold > total
    assert threshold <= total


def test_participants_are_the_heaviest_in_address_order() -> None:
    chosen = units.select_participants([("race1c", 5), ("race1a", 9), ("race1b", 1),
                                        ("race1d", 0)], 2)
    assert chosen == [("race1a", 9), ("race1c", 5)]


SIGMAS = [hashlib.sha256(bytes([i])).digest() for i in range(8)]


@given(st.permutations(list(zip(ADDRESSES[:8], SIGMAS, strict=True))))
def test_the_output_does_not_depend_on_the_order_contributions_arrive(
        contributions: list[tuple[str, bytes]]) -> None:
    assert output.round_output(3, contributions) == output.round_output(
        3, sorted(contributions))


@given(changed=st.integers(0, 7))
def test_the_output_depends_on_every_contribution(changed: int) -> None:
    contributions = list(zip(ADDRESSES[:8], SIGMAS, strict=True))
    altered = list(contributions)
    altered[changed] = (altered[changed][0], hashlib.sha256(b"other").digest())
    assert output.round_output(3, altered) != output.round_output(3, contributions)
    assert output.round_output(3, contributions[:changed] + contributions[changed + 1:]) \
        != output.round_output(3, contributions)


def test_the_output_depends_on_the_round() -> None:
    contributions = list(zip(ADDRESSES[:2], SIGMAS[:2], strict=True))
    assert output.round_output(1, contributions) != output.round_output(2, contributions)


def test_a_failed_round_chains_the_previous_output_with_its_id() -> None:
    previous = output.genesis_output("race-test")
    assert previous == hashlib.sha256(b"race/v1/beacon/genesis" + b"race-test").digest()
    first, second = output.failed_round_output(1, previous), output.failed_round_output(
        2, previous)
    assert len({previous, first, second}) == 3
