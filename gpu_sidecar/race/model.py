"""The Race transformer and the nonce pipeline on torch (whitepaper Appendix A, 2).

Forward pass for a batch of nonces (docs/race.md gives the same as a spec):

    x   = embedding[tokens] + position + noise                 (float32 residual stream)
    per layer:  h = rms_norm(x);  q, k, v = split(h @ Wqkv) into n_heads heads
                x = x + causal_attention(q, k, v) @ Wo
                h = rms_norm(x);  x = x + gelu_tanh(h @ W1) @ W2
    out = layer_norm(x[:, -1])            (no affine: mean 0, sum of squares d_model)
    distance = || out[perm] - target ||_2

Matmul inputs are in the engine's dtype (fp32, bf16, fp16); the residual stream, norms and
the distance stay in float32, which keeps cross-dtype noise small (docs/race.md, Validation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gpu_sidecar.race.config import RaceConfig
from gpu_sidecar.race.inputs import (
    NOISE_SHIFT,
    NonceKeys,
    noise_mantissas,
    nonce_words,
    permutation_sort_keys,
    token_ids,
)

NORM_EPS = 1e-6


@dataclass
class NonceInputs:
    """One batch's inputs on the device: tokens (n, s), noise (n, s, d), permutation (n, d)."""

    nonces: np.ndarray
    tokens: torch.Tensor
    noise: torch.Tensor
    permutation: torch.Tensor


def build_nonce_inputs(
    config: RaceConfig, keys: NonceKeys, nonces: np.ndarray, device: torch.device
) -> NonceInputs:
    """Hash the nonces into inputs and permutations with int64 ops on ``device``.

    Bit-identical to ``inputs.numpy_nonce_inputs`` (same integer hash, exact float steps).
    """
    low_np, high_np = nonce_words(nonces)
    low = torch.from_numpy(low_np).to(device, non_blocking=True)
    high = torch.from_numpy(high_np).to(device, non_blocking=True)
    s, d = config.seq_len, config.d_model
    tokens = token_ids(config, keys, low, high, torch.arange(s, device=device)[None, :])
    counter = s + torch.arange(s * d, device=device)[None, :]
    mantissa = noise_mantissas(config, keys, low, high, counter)
    noise = (mantissa.to(torch.float32) * 2.0**-23 - 1.0) * 2.0**-NOISE_SHIFT
    sort_keys = permutation_sort_keys(config, keys, low, high,
                                      torch.arange(d, device=device)[None, :])
    permutation = torch.argsort(sort_keys, dim=1, stable=True)
    return NonceInputs(np.asarray(nonces, dtype=np.uint64), tokens, noise.view(-1, s, d),
                       permutation)


def race_distances(
    tokens: torch.Tensor,
    noise: torch.Tensor,
    permutation: torch.Tensor,
    embedding: torch.Tensor,
    position: torch.Tensor,
    target: torch.Tensor,
    wqkv: torch.Tensor,
    wo: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    n_heads: int,
) -> torch.Tensor:
    """Distances of a batch (the forward in the module docstring); weights stacked per layer.

    The weights are arguments, not captured constants, so a compiled version serves every
    race of the same shape without recompiling.
    """
    n, s = tokens.shape
    d = embedding.shape[1]
    dtype = wqkv.dtype
    x = embedding[tokens].to(torch.float32) + position + noise
    for layer in range(wqkv.shape[0]):
        h = F.rms_norm(x, (d,), eps=NORM_EPS).to(dtype)
        qkv = (h @ wqkv[layer]).view(n, s, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        x = x + (attended.transpose(1, 2).reshape(n, s, d) @ wo[layer]).to(torch.float32)
        h = F.rms_norm(x, (d,), eps=NORM_EPS).to(dtype)
        x = x + (F.gelu(h @ w1[layer], approximate="tanh") @ w2[layer]).to(torch.float32)
    out = F.layer_norm(x[:, -1], (d,), eps=NORM_EPS)
    permuted = torch.gather(out, 1, permutation)
    return torch.linalg.vector_norm(permuted - target, dim=1)


_compiled_race_distances: Callable[..., torch.Tensor] | None = None


def compiled_race_distances() -> Callable[..., torch.Tensor]:
    """``race_distances`` under torch.compile (one compilation per batch shape and dtype)."""
    global _compiled_race_distances
    if _compiled_race_distances is None:
        _compiled_race_distances = torch.compile(race_distances, dynamic=False)
    return _compiled_race_distances


class RaceTransformer:
    """The race model for one (config, race seed) on one device and dtype."""

    def __init__(
        self,
        config: RaceConfig,
        weights: dict[str, torch.Tensor],
        target: torch.Tensor,
        dtype: torch.dtype,
        compile_forward: bool = False,
    ) -> None:
        self.config = config
        self.dtype = dtype
        self.compiled = compile_forward
        self.embedding = weights.pop("embedding")
        self.position = weights.pop("position").to(torch.float32)
        self.target = target.to(torch.float32)
        stacked = {}
        for part in ("wqkv", "wo", "w1", "w2"):
            layers = [weights.pop(f"layer{i}.{part}") for i in range(config.n_layers)]
            stacked[part] = torch.stack(layers)
            del layers
        self.wqkv, self.wo, self.w1, self.w2 = (stacked[p] for p in ("wqkv", "wo", "w1", "w2"))
        self._forward = compiled_race_distances() if compile_forward else race_distances

    def distances(self, batch: NonceInputs) -> torch.Tensor:
        """Euclidean distance of each nonce's permuted last vector to the target (float32)."""
        with torch.inference_mode():
            return self._forward(batch.tokens, batch.noise, batch.permutation,
                                 self.embedding, self.position, self.target,
                                 self.wqkv, self.wo, self.w1, self.w2, self.config.n_heads)
