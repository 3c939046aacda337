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
        self.embedding = weights["embedding"]
        self.position = weights["position"].to(torch.float32)
        self.layers = [
            (weights[f"layer{i}.wqkv"], weights[f"layer{i}.wo"],
             weights[f"layer{i}.w1"], weights[f"layer{i}.w2"])
            for i in range(config.n_layers)
        ]
        self.target = target.to(torch.float32)
        self._distances: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
        self._distances = self._eager_distances
        if compile_forward:
            self._distances = torch.compile(self._eager_distances, dynamic=False)

    def last_vectors(self, tokens: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The standardised last output vector of each sequence, float32 (n, d)."""
        cfg = self.config
        n, s = tokens.shape
        x = self.embedding[tokens].to(torch.float32) + self.position + noise
        for wqkv, wo, w1, w2 in self.layers:
            h = F.rms_norm(x, (cfg.d_model,), eps=NORM_EPS).to(self.dtype)
            qkv = (h @ wqkv).view(n, s, 3, cfg.n_heads, cfg.head_dim).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
            x = x + (attended.transpose(1, 2).reshape(n, s, cfg.d_model) @ wo).to(torch.float32)
            h = F.rms_norm(x, (cfg.d_model,), eps=NORM_EPS).to(self.dtype)
            x = x + (F.gelu(h @ w1, approximate="tanh") @ w2).to(torch.float32)
        return F.layer_norm(x[:, -1], (cfg.d_model,), eps=NORM_EPS)

    def _eager_distances(
        self, tokens: torch.Tensor, noise: torch.Tensor, permutation: torch.Tensor
    ) -> torch.Tensor:
        out = self.last_vectors(tokens, noise)
        permuted = torch.gather(out, 1, permutation)
        return torch.linalg.vector_norm(permuted - self.target, dim=1)

    def distances(self, batch: NonceInputs) -> torch.Tensor:
        """Euclidean distance of each nonce's permuted last vector to the target (float32)."""
        with torch.inference_mode():
            return self._distances(batch.tokens, batch.noise, batch.permutation)
