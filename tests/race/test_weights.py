"""Whitepaper Appendix A, Model initialization: weights from the race seed, bit-identical
everywhere, independent of any floating-point RNG."""

from __future__ import annotations

import numpy as np
import torch

from gpu_sidecar.race.hashing import hash32, hash32_pair
from gpu_sidecar.race.inputs import NonceKeys, numpy_nonce_inputs
from gpu_sidecar.race.model import build_nonce_inputs
from gpu_sidecar.race.torch_weights import torch_tensor, torch_weights
from gpu_sidecar.race.weights import numpy_tensor, numpy_weights, target_vector, weight_layout
from race_protocol.race.config import PAPER_CONFIG, RaceConfig
from race_protocol.race.seeds import node_seed, stream_key

from .conftest import NODE_KEY, RACE_SEED


def bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint32)


def test_numpy_and_torch_weights_are_bit_identical(small_config: RaceConfig) -> None:
    reference = numpy_weights(small_config, RACE_SEED)
    built = torch_weights(small_config, RACE_SEED, torch.device("cpu"), torch.float32)
    assert reference.keys() == built.keys()
    for name, array in reference.items():
        assert np.array_equal(bits(array), bits(built[name].numpy())), name


def test_paper_sized_tensor_is_bit_identical_across_chunks() -> None:
    # layer0.w1 of the paper config: 4 Mi elements, built by torch in chunks.
    spec = weight_layout(PAPER_CONFIG)[4]
    assert spec.numel == 512 * 8192
    reference = numpy_tensor(RACE_SEED, spec)
    built = torch_tensor(RACE_SEED, spec, torch.device("cpu"), torch.float32)
    assert np.array_equal(bits(reference), bits(built.numpy()))


def test_bf16_weights_are_the_rounded_fp32_weights(small_config: RaceConfig) -> None:
    fp32 = torch_weights(small_config, RACE_SEED, torch.device("cpu"), torch.float32)
    bf16 = torch_weights(small_config, RACE_SEED, torch.device("cpu"), torch.bfloat16)
    assert torch.equal(fp32["layer1.w2"].to(torch.bfloat16), bf16["layer1.w2"])


def test_different_seeds_give_different_weights(small_config: RaceConfig) -> None:
    one = numpy_weights(small_config, RACE_SEED)
    other = numpy_weights(small_config, RACE_SEED + b"!")
    for name in one:
        assert np.mean(one[name] == other[name]) < 0.01, name
    assert not np.array_equal(target_vector(small_config, RACE_SEED),
                              target_vector(small_config, RACE_SEED + b"!"))


def test_weights_have_the_specified_scale(small_config: RaceConfig) -> None:
    weights = numpy_weights(small_config, RACE_SEED)
    w1 = weights["layer0.w1"]  # fan_in 64: shift 2, uniform[-1/4, 1/4)
    assert w1.min() >= -0.25 and w1.max() < 0.25
    assert abs(float(w1.mean())) < 0.01
    assert abs(float(w1.std()) - 0.25 / np.sqrt(3)) < 0.005


def test_hash_known_answers() -> None:
    # Pinned outputs: any change to the hash changes every Race; docs/race.md lists them.
    counter = np.arange(4, dtype=np.int64)
    assert hash32(counter, (0, 0)).tolist() == KNOWN_HASH32
    assert stream_key("weight/embedding", b"seed") == KNOWN_STREAM_KEY
    low = np.array([[5]], dtype=np.int64)
    high = np.array([[7]], dtype=np.int64)
    assert hash32_pair(low, high, counter[None, :], (1, 2)).tolist() == [KNOWN_HASH32_PAIR]


KNOWN_HASH32 = [0, 3405691463, 3401107691, 539734128]
KNOWN_STREAM_KEY = (2171381698, 2165222759)
KNOWN_HASH32_PAIR = [1453425326, 803616959, 2275235000, 1157385202]


def test_target_vector_is_standardised(small_config: RaceConfig) -> None:
    target = target_vector(small_config, RACE_SEED).astype(np.float64)
    assert abs(target.mean()) < 1e-6
    assert abs(float(np.dot(target, target)) - small_config.d_model) < 1e-3


def test_nonce_inputs_match_the_numpy_reference(small_config: RaceConfig) -> None:
    keys = NonceKeys.derive(RACE_SEED, node_seed(NODE_KEY))
    nonces = np.array([0, 1, 2**32, 2**63 + 11, 2**64 - 1], dtype=np.uint64)
    tokens, noise, permutation = numpy_nonce_inputs(small_config, keys, nonces)
    built = build_nonce_inputs(small_config, keys, nonces, torch.device("cpu"))
    assert np.array_equal(tokens, built.tokens.numpy())
    assert np.array_equal(bits(noise), bits(built.noise.numpy()))
    assert np.array_equal(permutation, built.permutation.numpy())
    assert tokens.min() >= 0 and tokens.max() < small_config.vocab_size
    for row in permutation:
        assert sorted(row.tolist()) == list(range(small_config.d_model))
    assert len({tuple(row) for row in permutation.tolist()}) == len(nonces)
