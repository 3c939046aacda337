"""The pure rules shared by the chain and the agents: sample draws, the power cap, verdict
bitmaps (race_protocol/race/)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from race_protocol.race.power import PPM, capped_powers, scale_to_limit
from race_protocol.race.sampling import sample_ranks
from race_protocol.race.verdicts import InvalidVerdicts, decode, decode_pair, encode

OUTPUT = bytes(range(32))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 64))
def test_samples_are_distinct_ranks_below_the_count(count: int, k: int) -> None:
    ranks = sample_ranks(OUTPUT, 3, "race1node", count, k)
    assert len(ranks) == min(k, count)
    assert len(set(ranks)) == len(ranks)
    assert all(0 <= r < count for r in ranks)


def test_samples_depend_on_the_output_the_cycle_and_the_node() -> None:
    base = sample_ranks(OUTPUT, 3, "race1a", 10**5, 32)
    assert base == sample_ranks(OUTPUT, 3, "race1a", 10**5, 32)
    assert base != sample_ranks(bytes(32), 3, "race1a", 10**5, 32)
    assert base != sample_ranks(OUTPUT, 4, "race1a", 10**5, 32)
    assert base != sample_ranks(OUTPUT, 3, "race1b", 10**5, 32)


def test_samples_cover_the_ranks_uniformly() -> None:
    """Every rank of 20 is drawn about as often over 4,000 draws of 5 (expected 1,000)."""
    hits = [0] * 20
    for cycle in range(4000):
        for rank in sample_ranks(OUTPUT, cycle, "race1a", 20, 5):
            hits[rank] += 1
    assert min(hits) > 850 and max(hits) < 1150, hits


counts = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3),
                         st.integers(1, 10**9), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(counts, st.integers(50_000, 333_333))
def test_capped_powers_hold_the_cap_whenever_it_can_be_held(
        weights: dict[str, int], cap: int) -> None:
    powers = capped_powers(weights, cap)
    total = sum(powers.values())
    assert set(powers) == set(weights)
    assert all(1 <= powers[k] <= weights[k] for k in weights)
    if len(weights) * cap >= PPM:
        assert all(p * PPM <= cap * total for p in powers.values())
    else:
        assert len(set(powers.values())) == 1


@settings(max_examples=200, deadline=None)
@given(counts, st.integers(50_000, 333_333))
def test_capping_keeps_the_order_and_leaves_small_counts_alone(
        weights: dict[str, int], cap: int) -> None:
    powers = capped_powers(weights, cap)
    ranked = sorted(weights, key=lambda k: weights[k])
    assert all(powers[a] <= powers[b] for a, b in zip(ranked, ranked[1:], strict=False))
    if len(weights) * cap >= PPM:
        level = max(powers.values())
        assert all(powers[k] == weights[k] for k in weights if weights[k] <= level)


def test_the_cap_lowers_the_top_to_one_level() -> None:
    assert capped_powers({"a": 100, "b": 10, "c": 10, "d": 10}, 300_000) == \
        {"a": 12, "b": 10, "c": 10, "d": 10}
    assert capped_powers({"a": 40, "b": 35, "c": 30, "d": 25}, 300_000)["a"] == 38
    assert capped_powers({"a": 30, "b": 30, "c": 30, "d": 30}, 300_000) == \
        {"a": 30, "b": 30, "c": 30, "d": 30}


def test_three_nodes_cannot_hold_a_30_percent_cap_and_share_equally() -> None:
    assert capped_powers({"a": 100, "b": 50, "c": 20}, 300_000) == {"a": 20, "b": 20, "c": 20}


def test_scaling_keeps_the_total_within_the_limit() -> None:
    scaled = scale_to_limit({"a": 3 * 10**18, "b": 10**18, "c": 1}, 10**18)
    assert sum(scaled.values()) <= 10**18 and scaled["c"] == 1
    assert scale_to_limit({"a": 5}, 10) == {"a": 5}


def test_verdict_bitmaps_round_trip_and_refuse_stray_bits() -> None:
    bitmap = encode([0, 3, 9], 10)
    assert decode(bitmap, 10) == [0, 3, 9] and len(bitmap) == 2
    with pytest.raises(InvalidVerdicts):
        decode(bitmap, 9)
    with pytest.raises(InvalidVerdicts):
        decode(bytes([0, 0b100]), 10)
    with pytest.raises(InvalidVerdicts, match="both"):
        decode_pair(encode([1], 4), encode([1, 2], 4), 4)
