"""The executor draw follows the voting weights: a chi-square test over a few hundred
requests on four providers of unequal weight, drawn from the chain's own answer to
``/inference/providers`` with the one draw function the relay and the executor use."""

from __future__ import annotations

import hashlib

from race_protocol.inference.draw import draw_executor, draw_seed
from tests.harness import account
from tests.inference_chain.net import MODEL, InferenceNet

POWERS = (10, 20, 30, 40)
REQUESTS = 400
# The chi-square distribution with 3 degrees of freedom exceeds 16.27 with probability
# 0.001: a fair draw fails this test once in a thousand seeds, and these are fixed.
CHI_SQUARE_3_DF_P001 = 16.27


def test_draws_follow_the_voting_weights() -> None:
    net = InferenceNet.start(powers=POWERS)
    answer = net.chain.query(f"/inference/providers/{MODEL}")
    candidates = [(p["address"], int(p["weight"])) for p in answer["providers"]]
    output = bytes.fromhex(answer["beacon_output"])
    counts = dict.fromkeys((address for address, _ in candidates), 0)

    for index in range(REQUESTS):
        request_id = hashlib.sha256(index.to_bytes(4, "big")).digest()[:16]
        drawn = draw_executor(draw_seed(output, request_id, 0), candidates)
        assert drawn is not None
        counts[drawn] += 1

    total = sum(POWERS)
    chi_square = sum((counts[account(i)] - REQUESTS * w / total) ** 2 / (REQUESTS * w / total)
                     for i, w in enumerate(POWERS))
    assert chi_square < CHI_SQUARE_3_DF_P001, counts


def test_the_draw_is_a_pure_function_of_public_data() -> None:
    candidates = [("b", 5), ("a", 0), ("c", 7)]
    seed = draw_seed(b"\x11" * 32, b"\x22" * 16, 0)
    assert draw_executor(seed, candidates) == draw_executor(seed, list(reversed(candidates)))
    assert draw_executor(seed, [("a", 0)]) is None
    retried = {draw_executor(draw_seed(b"\x11" * 32, b"\x22" * 16, n), candidates)
               for n in range(20)}
    assert retried == {"b", "c"}  # a weightless provider is never drawn
