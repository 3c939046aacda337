"""Whitepaper Appendix A: about 1 nonce in N qualifies, and the permutation defeats local
search (a hit's neighbours are no likelier to hit than any nonce)."""

from __future__ import annotations

import math

import numpy as np

from gpu_sidecar.race.engine import scale_distances
from race_protocol.race.config import DISTANCE_SCALE, RaceConfig, gaussian_threshold_scaled

# Bounds at 5 standard deviations: a correct engine fails them about once in 1.7 million runs.
SIGMAS = 5.0


def binomial_bounds(n: int, p: float) -> tuple[float, float]:
    spread = SIGMAS * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


def test_measured_hit_rate_matches_the_calibrated_target(
    small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    scaled = np.asarray(scale_distances(scanned_distances))
    hits = int(np.sum(scaled < small_config.threshold_scaled))
    low, high = binomial_bounds(len(scaled), 1 / small_config.hit_rate_denominator)
    assert low <= hits <= high, (hits, low, high)


def test_closed_form_threshold_is_within_two_percent_of_the_measured_quantile(
    small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    derived = gaussian_threshold_scaled(small_config.d_model, small_config.hit_rate_denominator)
    quantile = np.quantile(scanned_distances, 1 / small_config.hit_rate_denominator)
    assert abs(derived / DISTANCE_SCALE - quantile) / quantile < 0.02


def test_neighbours_of_hits_are_not_hits_more_often_than_chance(
    small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    scaled = np.asarray(scale_distances(scanned_distances))
    is_hit = scaled < small_config.threshold_scaled
    hits = np.nonzero(is_hit)[0]
    neighbours = sorted({int(n + step) for n in hits for step in (-2, -1, 1, 2)
                         if 0 <= n + step < len(scaled)})
    neighbour_hits = int(is_hit[neighbours].sum())
    _, high = binomial_bounds(len(neighbours), 1 / small_config.hit_rate_denominator)
    assert neighbour_hits <= high, (neighbour_hits, len(neighbours), high)


def test_neighbour_distances_are_uncorrelated(scanned_distances: np.ndarray) -> None:
    lagged = np.corrcoef(scanned_distances[:-1], scanned_distances[1:])[0, 1]
    assert abs(lagged) < SIGMAS / math.sqrt(len(scanned_distances))
