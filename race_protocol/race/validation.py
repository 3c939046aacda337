"""Judging recomputed nonces (whitepaper Appendix A "Validation of proof"; section 3's
"statistical approach to verification").

Each sampled nonce's distance is recomputed on the validator's own hardware and classed:

* ``QUALIFIES``        distance < threshold                         (an Appropriate Vector)
* ``WITHIN_TOLERANCE`` threshold <= distance < threshold + tolerance (honest noise or a near miss)
* ``FAILS``            distance >= threshold + tolerance             (not a proof)

The sample is accepted when no nonce FAILS and the number of WITHIN_TOLERANCE nonces is
plausible for honest hardware: a one-sided binomial test against the config's honest
mismatch rate ``p0`` rejects when P(Binomial(n, p0) >= k) < alpha. The tolerance is many
times the largest cross-device noise measured, so an honest node FAILS essentially never;
the binomial test bounds how many near misses a dishonest node can slip in. Rates are
derived and measured in docs/race.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from race_protocol.race.config import RaceConfig

DEFAULT_ALPHA = 1e-6
"""Per-validation false-reject bound for an honest node (the binomial test's level)."""


class NonceStatus(Enum):
    QUALIFIES = 1
    WITHIN_TOLERANCE = 2
    FAILS = 3


@dataclass(frozen=True)
class NonceVerdict:
    nonce: int
    distance_scaled: int
    status: NonceStatus


@dataclass(frozen=True)
class ValidationVerdict:
    """The validator's verdict on one node's sample."""

    accepted: bool
    reason: str
    qualifying: int
    within_tolerance: int
    failing: int
    p_value: float
    nonces: tuple[NonceVerdict, ...]

    @property
    def sample_size(self) -> int:
        return len(self.nonces)


def classify(config: RaceConfig, distance_scaled: int) -> NonceStatus:
    """Class of one recomputed distance (integers scaled by 10**6, as on chain)."""
    if distance_scaled < config.threshold_scaled:
        return NonceStatus.QUALIFIES
    if distance_scaled < config.threshold_scaled + config.tolerance_scaled:
        return NonceStatus.WITHIN_TOLERANCE
    return NonceStatus.FAILS


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def critical_mismatches(n: int, p: float, alpha: float = DEFAULT_ALPHA) -> int:
    """Smallest k with P(Binomial(n, p) >= k) < alpha: that many mismatches reject."""
    for k in range(n + 2):
        if binomial_upper_tail(k, n, p) < alpha:
            return k
    return n + 1


def judge(config: RaceConfig, nonces: Sequence[int], distances_scaled: Sequence[int],
          alpha: float = DEFAULT_ALPHA) -> ValidationVerdict:
    """Verdict on a sample from its recomputed distances (Appendix A, Validation, step 3)."""
    if len(nonces) != len(distances_scaled):
        raise ValueError("one distance per nonce")
    verdicts = tuple(
        NonceVerdict(int(nonce), int(distance), classify(config, int(distance)))
        for nonce, distance in zip(nonces, distances_scaled, strict=True)
    )
    counts = {status: 0 for status in NonceStatus}
    for verdict in verdicts:
        counts[verdict.status] += 1
    n = len(verdicts)
    mismatches = counts[NonceStatus.WITHIN_TOLERANCE] + counts[NonceStatus.FAILS]
    p_value = binomial_upper_tail(mismatches, n, config.honest_mismatch_ppm / 1_000_000)
    if n == 0:
        accepted, reason = False, "empty sample"
    elif counts[NonceStatus.FAILS]:
        accepted = False
        reason = (f"{counts[NonceStatus.FAILS]} of {n} nonces are beyond the noise tolerance "
                  "(not Appropriate Vectors)")
    elif p_value < alpha:
        accepted = False
        reason = (f"{mismatches} of {n} nonces recompute above the threshold; honest hardware "
                  f"noise explains that with probability {p_value:.3g} < {alpha:g}")
    else:
        accepted, reason = True, f"{n - mismatches} of {n} qualify, {mismatches} within tolerance"
    return ValidationVerdict(
        accepted=accepted,
        reason=reason,
        qualifying=counts[NonceStatus.QUALIFIES],
        within_tolerance=counts[NonceStatus.WITHIN_TOLERANCE],
        failing=counts[NonceStatus.FAILS],
        p_value=p_value,
        nonces=verdicts,
    )
