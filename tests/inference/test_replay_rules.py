"""The replay verdict's rules on hand-made numbers (no engine needed)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gpu_sidecar.inference.config import ModelConfigError, parse_model_option
from gpu_sidecar.inference.replay import (
    ClaimedPosition,
    ReplayThresholds,
    judge,
    position_distance,
)

EOS = 2
THRESHOLDS = ReplayThresholds(min_similarity=0.99, max_position_distance=0.25,
                              greedy_tolerance=0.05, min_token_logprob=-25.0)
# replayed logprobs per position: the model strongly prefers 10, then 11, then 12, then EOS
REPLAYED = [
    {10: -0.1, 11: -2.5, 12: -4.0, EOS: -6.0},
    {11: -0.2, 10: -2.0, 12: -3.0, EOS: -7.0},
    {EOS: -0.05, 10: -4.0, 11: -5.0, 12: -6.0},
]
OUTPUT = [10, 11, EOS]


def honest_claims(replayed: list[dict[int, float]], output: list[int],
                  k: int = 2, noise: float = 0.0) -> list[ClaimedPosition]:
    claims = []
    for token, here in zip(output, replayed, strict=True):
        top = sorted(here.items(), key=lambda item: item[1], reverse=True)[:k]
        claims.append(ClaimedPosition(token, here[token] + noise,
                                      tuple((t, lp + noise) for t, lp in top)))
    return claims


def verdict(claims, output=OUTPUT, finish="stop", temperature=0.0, max_tokens=None,
            stop=(), replayed=REPLAYED):
    return judge(output, claims, replayed, finish_reason=finish, temperature=temperature,
                 max_tokens=max_tokens, stop=stop, eos_token_ids=frozenset({EOS}),
                 decode=lambda ids: " ".join(f"t{i}" for i in ids if i != EOS),
                 thresholds=THRESHOLDS)


def test_identical_numbers_have_distance_zero() -> None:
    claim = honest_claims(REPLAYED, OUTPUT)[0]

    assert position_distance(claim, REPLAYED[0]) == 0.0


def test_small_numeric_noise_is_accepted() -> None:
    result = verdict(honest_claims(REPLAYED, OUTPUT, noise=1e-4))

    assert result.accepted and result.similarity > 0.999


def test_a_shifted_distribution_is_rejected() -> None:
    result = verdict(honest_claims(REPLAYED, OUTPUT, noise=0.3))

    assert not result.accepted and "distance" in result.reason


def test_a_hidden_top_token_counts_against_the_claim() -> None:
    # the executor leaves the model's favourite out of its top list
    claim = ClaimedPosition(11, -2.5, ((11, -2.5), (12, -4.0)))

    assert position_distance(claim, REPLAYED[0]) == pytest.approx((0 + 0 + (-0.1 + 4.0)) / 3)


def test_a_non_greedy_token_in_a_greedy_answer_is_rejected() -> None:
    replayed = [REPLAYED[0], {12: -0.1, 10: -2.0, 11: -3.0, EOS: -7.0}, REPLAYED[2]]
    output = [11, 12, EOS]  # 11 is not the most likely first token

    result = verdict(honest_claims(replayed, output), output=output, replayed=replayed)

    assert not result.accepted and "greedy" in result.reason


def test_the_same_token_is_fine_when_sampling() -> None:
    replayed = [REPLAYED[0], {12: -0.1, 10: -2.0, 11: -3.0, EOS: -7.0}, REPLAYED[2]]
    output = [11, 12, EOS]

    assert verdict(honest_claims(replayed, output), output=output, replayed=replayed,
                   temperature=0.8).accepted


def test_a_truncated_answer_cannot_claim_stop() -> None:
    result = verdict(honest_claims(REPLAYED[:2], OUTPUT[:2]), output=OUTPUT[:2],
                     replayed=REPLAYED[:2])

    assert not result.accepted and "neither an end-of-sequence" in result.reason


def test_length_needs_exactly_max_tokens() -> None:
    claims = honest_claims(REPLAYED[:2], OUTPUT[:2])

    assert verdict(claims, output=OUTPUT[:2], replayed=REPLAYED[:2], finish="length",
                   max_tokens=2).accepted
    assert not verdict(claims, output=OUTPUT[:2], replayed=REPLAYED[:2], finish="length",
                       max_tokens=5).accepted


def test_a_stop_sequence_ends_an_answer() -> None:
    claims = honest_claims(REPLAYED[:2], OUTPUT[:2])

    assert verdict(claims, output=OUTPUT[:2], replayed=REPLAYED[:2], stop=("t11",)).accepted


def test_claims_must_name_the_output_tokens() -> None:
    claims = honest_claims(REPLAYED, OUTPUT)
    claims[1] = ClaimedPosition(12, claims[1].logprob, claims[1].top)

    assert "logprobs name token" in verdict(claims).reason


def test_an_empty_output_is_rejected() -> None:
    result = verdict([], output=[], replayed=[])

    assert not result.accepted and result.similarity == 0.0 and math.isinf(result.mean_distance)


def test_model_options_are_parsed_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="not a model folder"):
        parse_model_option(f"m={tmp_path}")
    with pytest.raises(ModelConfigError, match="NAME=PATH"):
        parse_model_option("just-a-name")
