"""The Race weights built with torch on any device, bit-identical to ``weights.numpy_tensor``.

The same integer hash runs as vectorised int64 tensor ops, so on a GPU the 0.6 B weights of
the paper config take well under a second; on CPU see docs/race.md for the measured cost.
"""

from __future__ import annotations

import torch

from gpu_sidecar.race.hashing import hash32, uniform_mantissa
from gpu_sidecar.race.weights import MANTISSA_UNIT, TensorSpec, weight_key, weight_layout
from race_protocol.race.config import RaceConfig

# Bounded so the int64 intermediates of one chunk stay near 64 MiB.
CHUNK_ELEMENTS = 1 << 23


def torch_tensor(
    race_seed: bytes, spec: TensorSpec, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``spec``'s tensor on ``device``: exact float32 values, then one cast to ``dtype``."""
    key = weight_key(race_seed, spec)
    out = torch.empty(spec.numel, dtype=dtype, device=device)
    for start in range(0, spec.numel, CHUNK_ELEMENTS):
        stop = min(start + CHUNK_ELEMENTS, spec.numel)
        counter = torch.arange(start, stop, dtype=torch.int64, device=device)
        mantissa = uniform_mantissa(hash32(counter, key))
        unit = mantissa.to(torch.float32) * MANTISSA_UNIT - 1.0
        out[start:stop] = (unit * spec.scale).to(dtype)
    return out.view(spec.shape)


def torch_weights(
    config: RaceConfig, race_seed: bytes, device: torch.device, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Every weight of the Race model on ``device`` in ``dtype``, keyed by stream name."""
    with torch.inference_mode():
        return {
            spec.name: torch_tensor(race_seed, spec, device, dtype)
            for spec in weight_layout(config)
        }
