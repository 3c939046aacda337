"""Nonce -> input sequence and permutation (whitepaper Appendix A, "Nonce iteration" and
"Random permutation").

For node seed ``ns``, race seed ``rs`` and a uint64 nonce split into words (lo, hi):

* tokens[j]  = (hash32_pair(lo, hi, j, K_in) * vocab) >> 32          for j < seq_len
* noise[j,c] = (m * 2**-23 - 1) * 2**-1 with m = hash32_pair(lo, hi, seq_len + j*d + c, K_in) >> 8
* input[j]   = embedding[tokens[j]] + position[j] + noise[j]
* perm       = argsort over c < d of  hash32_pair(lo, hi, c, K_perm) * 2**ceil(log2 d) + c

with ``K_in = stream_key("input", rs, ns)`` and ``K_perm = stream_key("permutation", rs, ns)``.
The per-nonce noise makes every nonce's input distinct (the 2**52 token sequences alone
would let a node reuse a cached forward pass for a colliding nonce). The sort keys are
distinct, so every sorting algorithm returns the same permutation.

Works on numpy arrays and torch tensors alike (``xp`` is the array namespace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_sidecar.race.hashing import MASK32, hash32_pair, uniform_mantissa
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import stream_key

NOISE_SHIFT = 1


@dataclass(frozen=True)
class NonceKeys:
    """The two stream keys shared by all nonces of one (race seed, node seed)."""

    input_key: tuple[int, int]
    permutation_key: tuple[int, int]

    @classmethod
    def derive(cls, race_seed: bytes, node_seed: bytes) -> NonceKeys:
        return cls(
            input_key=stream_key("input", race_seed, node_seed),
            permutation_key=stream_key("permutation", race_seed, node_seed),
        )


def nonce_words(nonces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split uint64 nonces into (low, high) uint32 words held in int64, shaped (n, 1)."""
    as_u64 = np.asarray(nonces, dtype=np.uint64)
    low = (as_u64 & np.uint64(MASK32)).astype(np.int64).reshape(-1, 1)
    high = (as_u64 >> np.uint64(32)).astype(np.int64).reshape(-1, 1)
    return low, high


def token_ids(config: RaceConfig, keys: NonceKeys, low: Any, high: Any, counter: Any) -> Any:
    """(n, seq_len) token ids in [0, vocab); ``counter`` is arange(seq_len) shaped (1, s)."""
    bits = hash32_pair(low, high, counter, keys.input_key)
    return (bits * config.vocab_size) >> 32


def noise_mantissas(config: RaceConfig, keys: NonceKeys, low: Any, high: Any, counter: Any) -> Any:
    """(n, seq_len * d) integers m in [0, 2**24); the noise is (m * 2**-23 - 1) / 2.

    ``counter`` is ``seq_len + arange(seq_len * d)`` shaped (1, s*d).
    """
    return uniform_mantissa(hash32_pair(low, high, counter, keys.input_key))


def permutation_sort_keys(config: RaceConfig, keys: NonceKeys, low: Any, high: Any,
                          counter: Any) -> Any:
    """(n, d) distinct sort keys; ``argsort`` along the last axis gives the permutation."""
    shift = max(1, (config.d_model - 1).bit_length())
    bits = hash32_pair(low, high, counter, keys.permutation_key)
    return bits * (1 << shift) + counter


def numpy_nonce_inputs(
    config: RaceConfig, keys: NonceKeys, nonces: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference (tokens int64 (n,s), noise float32 (n,s,d), permutation int64 (n,d))."""
    low, high = nonce_words(nonces)
    s, d = config.seq_len, config.d_model
    tokens = token_ids(config, keys, low, high, np.arange(s, dtype=np.int64)[None, :])
    mant = noise_mantissas(config, keys, low, high, s + np.arange(s * d, dtype=np.int64)[None, :])
    noise = (mant.astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)) * np.float32(
        2.0**-NOISE_SHIFT
    )
    columns = np.arange(d, dtype=np.int64)[None, :]
    sort_keys = permutation_sort_keys(config, keys, low, high, columns)
    permutation = np.argsort(sort_keys, axis=1, kind="stable")
    return tokens, noise.reshape(-1, s, d), permutation
