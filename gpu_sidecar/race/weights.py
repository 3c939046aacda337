"""Deterministic weights and target vector from the race seed (whitepaper Appendix A, 1).

Every weight tensor is a named stream: element ``i`` (row-major) of tensor ``name`` is

    m = hash32(i, stream_key("weight/" + name, race_seed)) >> 8        # integer in [0, 2**24)
    w = (m * 2**-23 - 1) * 2**-scale_shift                             # exact in float32

so the float32 weights are bit-identical wherever they are computed (numpy on any CPU,
torch on CPU or CUDA): no operation rounds. ``scale_shift`` is ``round(log2(sqrt(fan_in/3)))``
so each matrix has a standard deviation near ``1/sqrt(fan_in)``.

This module holds the layout (names, shapes, scales) and the numpy reference. The torch
builder lives in ``torch_weights.py`` and uses the same hash on device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpu_sidecar.race.hashing import hash32, uniform_mantissa
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import stream_key

MANTISSA_UNIT = 2.0**-23


@dataclass(frozen=True)
class TensorSpec:
    """One weight tensor: its stream name, shape (x @ W layout) and power-of-two scale."""

    name: str
    shape: tuple[int, ...]
    scale_shift: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def scale(self) -> float:
        return 2.0**-self.scale_shift


def fan_in_shift(fan_in: int) -> int:
    """Shift k with 2**-k * (1/sqrt(3)) close to 1/sqrt(fan_in) (uniform[-1,1) has std 1/sqrt 3)."""
    return max(0, round(math.log2(math.sqrt(fan_in / 3.0))))


def weight_layout(config: RaceConfig) -> list[TensorSpec]:
    """The model's tensors in their canonical order (the order the docs specify)."""
    d, f = config.d_model, config.ffn_hidden
    specs = [
        TensorSpec("embedding", (config.vocab_size, d), 0),
        TensorSpec("position", (config.seq_len, d), 0),
    ]
    for layer in range(config.n_layers):
        specs += [
            TensorSpec(f"layer{layer}.wqkv", (d, 3 * d), fan_in_shift(d)),
            TensorSpec(f"layer{layer}.wo", (d, d), fan_in_shift(d)),
            TensorSpec(f"layer{layer}.w1", (d, f), fan_in_shift(d)),
            TensorSpec(f"layer{layer}.w2", (f, d), fan_in_shift(f)),
        ]
    return specs


def weight_key(race_seed: bytes, spec: TensorSpec) -> tuple[int, int]:
    return stream_key("weight/" + spec.name, race_seed)


def numpy_tensor(race_seed: bytes, spec: TensorSpec) -> np.ndarray:
    """The reference float32 tensor for ``spec`` (numpy, CPU)."""
    counter = np.arange(spec.numel, dtype=np.int64)
    mantissa = uniform_mantissa(hash32(counter, weight_key(race_seed, spec)))
    unit = mantissa.astype(np.float32) * np.float32(MANTISSA_UNIT) - np.float32(1.0)
    return (unit * np.float32(spec.scale)).reshape(spec.shape)


def numpy_weights(config: RaceConfig, race_seed: bytes) -> dict[str, np.ndarray]:
    """Every weight of the Race model as float32 numpy arrays, keyed by stream name."""
    return {spec.name: numpy_tensor(race_seed, spec) for spec in weight_layout(config)}


def target_vector(config: RaceConfig, race_seed: bytes) -> np.ndarray:
    """The race's Target Vector (Appendix A, 2.ii): standardised to mean 0, sum of squares d.

    Drawn from stream "target" like a weight, then centred and scaled in float64 and
    rounded once to float32. Standardising makes the distance distribution independent of
    the seed, so one threshold serves every Race (docs/race.md).
    """
    spec = TensorSpec("target", (config.d_model,), 0)
    counter = np.arange(config.d_model, dtype=np.int64)
    mantissa = uniform_mantissa(hash32(counter, stream_key("target", race_seed)))
    raw = mantissa.astype(np.float64) * MANTISSA_UNIT - 1.0
    centred = raw - raw.mean()
    scaled = centred * math.sqrt(config.d_model / float(np.dot(centred, centred)))
    del spec
    return scaled.astype(np.float32)
