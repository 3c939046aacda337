"""The Race's chain parameters: model shape, hit threshold and validation tolerance.

Whitepaper Appendix A fixes the work function's shape (64 layers, 128 heads, d_model 512,
vocab 8192, FFN hidden 8192, sequence length 4) and a distance threshold "chosen such that
the chance of finding an Appropriate Vector from one nonce is about 1 in 900". Everything
that goes on chain is an integer: distances and thresholds are carried as
``round(distance * DISTANCE_SCALE)``.

This module imports neither torch nor numpy, so the chain side can use it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

DISTANCE_SCALE = 1_000_000
"""Fixed-point factor for distances and thresholds: on chain ``threshold_scaled = T * 10**6``."""

MAX_LAYERS = 512
MAX_D_MODEL = 16_384
MAX_FFN_HIDDEN = 131_072
MAX_VOCAB = 1 << 20
MAX_SEQ_LEN = 64
MAX_TENSOR_ELEMENTS = (1 << 32) - 1


class InvalidRaceConfig(ValueError):
    """A Race configuration that no node could run identically (rejected before any work)."""


@dataclass(frozen=True)
class RaceConfig:
    """One Race's work function and acceptance rule (whitepaper Appendix A).

    ``threshold_scaled``: a nonce qualifies when ``distance * DISTANCE_SCALE < threshold_scaled``.
    ``tolerance_scaled``: validators accept a recomputed distance up to
    ``threshold_scaled + tolerance_scaled`` as honest hardware noise.
    ``honest_mismatch_ppm``: the rate (parts per million) at which an honest hit recomputes
    above the threshold on other hardware; the statistical test's null hypothesis.
    """

    n_layers: int = 64
    n_heads: int = 128
    d_model: int = 512
    vocab_size: int = 8192
    ffn_hidden: int = 8192
    seq_len: int = 4
    hit_rate_denominator: int = 900
    threshold_scaled: int = 0
    tolerance_scaled: int = 0
    honest_mismatch_ppm: int = 0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def threshold(self) -> float:
        """The distance threshold as a float (off-chain use only)."""
        return self.threshold_scaled / DISTANCE_SCALE

    @property
    def tolerance(self) -> float:
        return self.tolerance_scaled / DISTANCE_SCALE

    def validate(self) -> None:
        """Raise InvalidRaceConfig unless every node can build this model identically."""
        checks: list[tuple[bool, str]] = [
            (1 <= self.n_layers <= MAX_LAYERS, f"n_layers must be in [1, {MAX_LAYERS}]"),
            (1 <= self.d_model <= MAX_D_MODEL, f"d_model must be in [1, {MAX_D_MODEL}]"),
            (self.d_model >= 2, "d_model must be at least 2"),
            (self.n_heads >= 1 and self.d_model % self.n_heads == 0,
             "n_heads must be positive and divide d_model"),
            (1 <= self.ffn_hidden <= MAX_FFN_HIDDEN,
             f"ffn_hidden must be in [1, {MAX_FFN_HIDDEN}]"),
            (2 <= self.vocab_size <= MAX_VOCAB, f"vocab_size must be in [2, {MAX_VOCAB}]"),
            (1 <= self.seq_len <= MAX_SEQ_LEN, f"seq_len must be in [1, {MAX_SEQ_LEN}]"),
            (self.hit_rate_denominator >= 1, "hit_rate_denominator must be positive"),
            (self.threshold_scaled > 0, "threshold_scaled must be positive (calibrate it)"),
            (self.tolerance_scaled >= 0, "tolerance_scaled must not be negative"),
            (0 <= self.honest_mismatch_ppm < 1_000_000, "honest_mismatch_ppm must be in [0, 1e6)"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidRaceConfig(message)
        if self.d_model * self.ffn_hidden > MAX_TENSOR_ELEMENTS:
            raise InvalidRaceConfig("d_model * ffn_hidden exceeds the 2**32 weight counter")
        if self.vocab_size * self.d_model > MAX_TENSOR_ELEMENTS:
            raise InvalidRaceConfig("vocab_size * d_model exceeds the 2**32 weight counter")

    def shape_key(self) -> tuple[int, ...]:
        """The fields that determine the weights (threshold and tolerance do not)."""
        return (self.n_layers, self.n_heads, self.d_model, self.vocab_size,
                self.ffn_hidden, self.seq_len)

    def parameter_count(self) -> int:
        """Every weight the seed derives: embeddings, positions, attention and FFN matrices.

        Norms carry no parameters (whitepaper Appendix A names none) and there is no output
        head: the proof uses the last hidden vector, not logits.
        """
        per_layer = 4 * self.d_model * self.d_model + 2 * self.d_model * self.ffn_hidden
        return (self.vocab_size * self.d_model + self.seq_len * self.d_model
                + self.n_layers * per_layer)

    def flops_per_nonce(self) -> int:
        """Model FLOPs of one forward pass (multiply-add = 2 FLOPs), as used for MFU.

        Counts the projections and the FFN (2 * params * tokens) and the attention scores and
        weighted values (2 * 2 * seq_len**2 * d_model per layer; causal masking not subtracted).
        """
        s, d = self.seq_len, self.d_model
        linear = 2 * s * (4 * d * d + 2 * d * self.ffn_hidden)
        attention = 2 * 2 * s * s * d
        return self.n_layers * (linear + attention)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_threshold(self, threshold_scaled: int) -> RaceConfig:
        return replace(self, threshold_scaled=threshold_scaled)


def gaussian_threshold_scaled(d_model: int, hit_rate_denominator: int) -> int:
    """Threshold derived in closed form (docs/race.md, "Distance distribution").

    The last vector ``h`` and the target ``t`` are both standardised (mean 0, sum of squares
    ``d``), so ``|pi(h) - t|**2 = 2d - 2 S`` with ``S = sum h[pi(i)] t[i]``. For a random
    permutation ``S`` has mean 0 and variance ``d**2 / (d - 1)``; by the permutation central
    limit theorem it is close to normal, giving ``T = sqrt(2d - 2 z sigma)`` with ``z`` the
    upper ``1/hit_rate_denominator`` quantile of N(0, 1). The calibration tool measures the
    real quantile; this is its starting point and cross-check.
    """
    z = normal_upper_quantile(1.0 / hit_rate_denominator)
    sigma = d_model / math.sqrt(d_model - 1)
    squared = 2.0 * d_model - 2.0 * z * sigma
    return max(1, round(math.sqrt(max(squared, 0.0)) * DISTANCE_SCALE))


def normal_upper_quantile(p: float) -> float:
    """z with P(N(0,1) > z) = p, by bisection on erfc (no scipy on the chain side)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# Calibrated with `python -m gpu_sidecar.race.calibrate` (see docs/race.md for the runs).
PAPER_CONFIG = RaceConfig(
    # Closed form (29,756,326); checked against the measured quantile of a 2-layer model of
    # the same width in docs/race.md. A full-depth calibration belongs on a GPU.
    threshold_scaled=gaussian_threshold_scaled(512, 900),
    # fp32 vs bf16 differed by at most 0.0134 over 128 nonces (mean 0.0043, distance std
    # 0.70): the tolerance is 7x that; the honest mismatch rate is estimated at ~1%.
    tolerance_scaled=100_000,
    honest_mismatch_ppm=30_000,
)
"""Whitepaper Appendix A: 64 x (128 heads, d 512, FFN 8192), vocab 8192, seq 4, 1 in 900."""

SMALL_CONFIG = RaceConfig(
    n_layers=4,
    n_heads=8,
    d_model=64,
    vocab_size=512,
    ffn_hidden=256,
    seq_len=4,
    hit_rate_denominator=50,
    # Empirical 1/50 quantile over 100,000 nonces (95% CI 9,733,707..9,762,765); the
    # closed form gives 9,740,649.
    threshold_scaled=9_748_845,
    # 3x the largest fp32/bf16 difference seen (0.032); honest bf16/fp32 mismatch 0.46%.
    tolerance_scaled=100_000,
    honest_mismatch_ppm=20_000,
)
"""A config for tests and CPU smoke runs: same structure, about 1/2000 of the work per nonce."""

NAMED_CONFIGS: dict[str, RaceConfig] = {"paper": PAPER_CONFIG, "small": SMALL_CONFIG}
