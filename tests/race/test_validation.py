"""Whitepaper Appendix A, Validation of proof: honest proofs validate on other hardware
settings; forged, near-miss, other-node and other-race nonces do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpu_sidecar.race.engine import RaceEngine, scale_distances
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import node_seed
from race_protocol.race.validation import (
    NonceStatus,
    binomial_upper_tail,
    critical_mismatches,
    judge,
)

from .conftest import NODE_KEY, OTHER_NODE_KEY, RACE_SEED, SCAN_NONCES

SAMPLE = 200
HONEST_PROOFS = 10_000


def hits_of(config: RaceConfig, distances: np.ndarray, first_nonce: int = 0) -> list[int]:
    scaled = np.asarray(scale_distances(distances))
    return (np.nonzero(scaled < config.threshold_scaled)[0] + first_nonce).tolist()


def judge_in_samples(config: RaceConfig, nonces: list[int], distances: np.ndarray) -> list[bool]:
    scaled = scale_distances(distances)
    return [judge(config, nonces[i:i + SAMPLE], scaled[i:i + SAMPLE]).accepted
            for i in range(0, len(nonces), SAMPLE)]


@pytest.fixture(scope="module")
def honest_fp32_proofs(engine: RaceEngine, dense_config: RaceConfig) -> list[int]:
    """At least 10,000 qualifying nonces found in fp32 at batch size 512."""
    seed = node_seed(NODE_KEY)
    found: list[int] = []
    start = 0
    while len(found) < HONEST_PROOFS:
        distances = engine.recompute(dense_config, RACE_SEED, seed,
                                     range(start, start + 8192), batch_size=512)
        found += hits_of(dense_config, distances, start)
        start += 8192
    return found


def test_fp32_batch512_proofs_validate_in_bf16_batch64(
    engine: RaceEngine, dense_config: RaceConfig, honest_fp32_proofs: list[int]
) -> None:
    recomputed = engine.recompute(dense_config, RACE_SEED, node_seed(NODE_KEY),
                                  honest_fp32_proofs, batch_size=64, dtype=torch.bfloat16)
    verdicts = judge_in_samples(dense_config, honest_fp32_proofs, recomputed)
    whole = judge(dense_config, honest_fp32_proofs, scale_distances(recomputed))
    assert len(honest_fp32_proofs) >= HONEST_PROOFS
    assert whole.failing == 0
    assert all(verdicts), f"{verdicts.count(False)} of {len(verdicts)} honest samples rejected"


def test_bf16_batch1_proofs_validate_in_fp32_batch512(
    engine: RaceEngine, dense_config: RaceConfig
) -> None:
    seed = node_seed(NODE_KEY)
    found_in_bf16 = engine.recompute(dense_config, RACE_SEED, seed, range(300),
                                     batch_size=1, dtype=torch.bfloat16)
    proofs = hits_of(dense_config, found_in_bf16)
    recomputed = engine.recompute(dense_config, RACE_SEED, seed, proofs, batch_size=512)
    verdict = judge(dense_config, proofs, scale_distances(recomputed))
    assert len(proofs) > 30
    assert verdict.accepted, verdict.reason


def test_batch_size_changes_distances_only_by_noise(
    engine: RaceEngine, small_config: RaceConfig
) -> None:
    seed = node_seed(NODE_KEY)
    one = engine.recompute(small_config, RACE_SEED, seed, range(64), batch_size=1)
    many = engine.recompute(small_config, RACE_SEED, seed, range(64), batch_size=512)
    assert np.max(np.abs(one - many)) < small_config.tolerance / 10


def test_random_nonces_are_rejected(
    engine: RaceEngine, small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    forged = np.random.default_rng(7).integers(0, 2**63, SAMPLE).tolist()
    distances = engine.recompute(small_config, RACE_SEED, node_seed(NODE_KEY), forged)
    verdict = judge(small_config, forged, scale_distances(distances))
    assert not verdict.accepted
    assert verdict.failing > SAMPLE * 0.9


def test_one_forged_nonce_among_honest_proofs_rejects_the_sample(
    small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    scaled = scale_distances(scanned_distances)
    honest = hits_of(small_config, scanned_distances)[:SAMPLE - 1]
    forged = next(n for n, d in enumerate(scaled)
                  if d >= small_config.threshold_scaled + small_config.tolerance_scaled)
    nonces = honest + [forged]
    verdict = judge(small_config, nonces, [scaled[n] for n in nonces])
    assert not verdict.accepted
    assert verdict.failing == 1


def test_near_misses_are_rejected_by_the_binomial_test(
    small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    scaled = scale_distances(scanned_distances)
    low, high = small_config.threshold_scaled, small_config.threshold_scaled + \
        small_config.tolerance_scaled
    near_misses = [n for n, d in enumerate(scaled) if low <= d < high]
    honest = hits_of(small_config, scanned_distances)
    needed = critical_mismatches(SAMPLE, small_config.honest_mismatch_ppm / 1e6)
    nonces = honest[:SAMPLE - needed] + near_misses[:needed]
    verdict = judge(small_config, nonces, [scaled[n] for n in nonces])
    assert len(near_misses) >= needed
    assert verdict.failing == 0
    assert not verdict.accepted, verdict.reason
    assert verdict.within_tolerance == needed


def test_another_nodes_proofs_are_rejected(
    engine: RaceEngine, small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    proofs = hits_of(small_config, scanned_distances)[:SAMPLE]
    as_other = engine.recompute(small_config, RACE_SEED, node_seed(OTHER_NODE_KEY), proofs)
    verdict = judge(small_config, proofs, scale_distances(as_other))
    assert not verdict.accepted
    assert verdict.qualifying < SAMPLE * 0.1


def test_proofs_from_another_race_are_rejected(
    engine: RaceEngine, small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    proofs = hits_of(small_config, scanned_distances)[:SAMPLE]
    other_race = engine.recompute(small_config, RACE_SEED + b"next", node_seed(NODE_KEY),
                                  proofs)
    verdict = judge(small_config, proofs, scale_distances(other_race))
    assert not verdict.accepted
    assert verdict.qualifying < SAMPLE * 0.1


def test_honest_hits_are_accepted(
    engine: RaceEngine, small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    proofs = hits_of(small_config, scanned_distances)[:SAMPLE]
    recomputed = engine.recompute(small_config, RACE_SEED, node_seed(NODE_KEY), proofs,
                                  batch_size=7)
    verdict = judge(small_config, proofs, scale_distances(recomputed))
    assert verdict.accepted, verdict.reason
    assert all(v.status is NonceStatus.QUALIFIES for v in verdict.nonces)


def test_binomial_tail_matches_a_direct_sum() -> None:
    from math import comb

    direct = sum(comb(20, i) * 0.1**i * 0.9 ** (20 - i) for i in range(5, 21))
    assert abs(binomial_upper_tail(5, 20, 0.1) - direct) < 1e-12
    assert binomial_upper_tail(0, 20, 0.1) == 1.0


def test_scan_is_large_enough() -> None:
    assert SCAN_NONCES >= 20_000
