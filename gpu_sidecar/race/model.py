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

from gpu_sidecar.race.inputs import (
    NOISE_SHIFT,
    NonceKeys,
    noise_mantissas,
    nonce_words,
    permutation_sort_keys,
    token_ids,
)
from race_protocol.race.config import RaceConfig

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


def race_layer(x: torch.Tensor, wqkv: torch.Tensor, wo: torch.Tensor, w1: torch.Tensor,
               w2: torch.Tensor, n_heads: int) -> torch.Tensor:
    """One pre-norm block: causal attention then the GELU feed-forward (float32 residual)."""
    n, s, d = x.shape
    dtype = wqkv.dtype
    h = F.rms_norm(x, (d,), eps=NORM_EPS).to(dtype)
    qkv = (h @ wqkv).view(n, s, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
    attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
    x = x + (attended.transpose(1, 2).reshape(n, s, d) @ wo).to(torch.float32)
    h = F.rms_norm(x, (d,), eps=NORM_EPS).to(dtype)
    return x + (F.gelu(h @ w1, approximate="tanh") @ w2).to(torch.float32)


def race_head(x: torch.Tensor, permutation: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Standardise the last vector, permute it, and measure its distance to the target."""
    out = F.layer_norm(x[:, -1], (x.shape[-1],), eps=NORM_EPS)
    permuted = torch.gather(out, 1, permutation)
    return torch.linalg.vector_norm(permuted - target, dim=1)


LayerFn = Callable[..., torch.Tensor]
_compiled: dict[str, LayerFn] = {}


def compiled_parts() -> tuple[LayerFn, LayerFn]:
    """``race_layer`` and ``race_head`` under torch.compile.

    The layer is compiled once and reused for all layers and all races of the same shape
    (weights are arguments, not constants), so compilation costs one block, not 64.
    """
    if not _compiled:
        _compiled["layer"] = torch.compile(race_layer, dynamic=False)
        _compiled["head"] = torch.compile(race_head, dynamic=False)
    return _compiled["layer"], _compiled["head"]


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
        self.embedding = weights["embedding"]
        self.position = weights["position"].to(torch.float32)
        self.target = target.to(torch.float32)
        self.layers = [
            (weights[f"layer{i}.wqkv"], weights[f"layer{i}.wo"],
             weights[f"layer{i}.w1"], weights[f"layer{i}.w2"])
            for i in range(config.n_layers)
        ]
        self._layer: LayerFn = race_layer
        self._head: LayerFn = race_head
        if compile_forward:
            self._layer, self._head = compiled_parts()

    def distances(self, batch: NonceInputs) -> torch.Tensor:
        """Euclidean distance of each nonce's permuted last vector to the target (float32)."""
        with torch.inference_mode():
            x = self.embedding[batch.tokens].to(torch.float32) + self.position + batch.noise
            for wqkv, wo, w1, w2 in self.layers:
                x = self._layer(x, wqkv, wo, w1, w2, self.config.n_heads)
            return self._head(x, batch.permutation, self.target)
