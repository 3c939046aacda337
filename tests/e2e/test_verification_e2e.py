"""Verification on a localnet, end to end (docs/verification.md): four providers, every
one running the production agent with its verifier duty; three forward inference to the
localnet's shared CPU engine (SmolLM2-135M-Instruct), and the fourth
(tests/faults/impostor_sidecar.py) serves the tiny random model under SmolLM2's name.

Driven as users drive it: the official ``openai`` client (only ``base_url`` and
``api_key``) against the gateway, the ``race`` CLI and CometBFT RPC. What must hold:

* every weighted node commits its seeds; the impostor's answers settle, are drawn, their
  transcripts fetched and replayed on the verifiers' own sidecars, fail, and the dispute
  is decided by more than half of the eligible weight well within one Race cycle;
* the impostor forfeits the cycle's held rewards and its reputation resets to 0; the
  developer's API key gets each charge back (its spent drops by exactly the charges);
* honest answers pass their checks and honest nodes' rewards are released;
* a report by the developer (``race inference report``) opens a dispute that the weighted
  majority upholds: the fee comes back and the charge is refunded;
* the supply and escrow invariants hold at every step.

One bring-up for the module: the shared engine and the impostor's own (tiny) vLLM start
side by side, first. About two minutes and a quarter in all on 2 shared cores (a minute
of it the bring-up), up to four and a half when other work loads them.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from governance.main import app
from race_node.client.queries import ChainQueries, to_json
from race_node.localnet import Localnet
from race_node.localnet.network import OFFLINE_ENV
from race_node.localnet.providers import SIDECAR_TOKEN_ENV, read_token
from race_protocol.gen.race.v1 import query_pb2
from tests.e2e.localnet_ports import free_port_block
from tests.faults.impostor_sidecar import impostor_model_path, impostor_sidecar

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow,
              pytest.mark.timeout(900)]

PROVIDERS = 4
IMPOSTOR = 3
HONEST = (0, 1, 2)
MODEL = "smollm2-135m-instruct"
# Twenty expected checks per task whatever the executor's reputation: every verifier with
# at least 5% of the eligible weight is drawn for every task (its chance is capped at 1).
CHECK_RATE_PPM = 20_000_000
GENESIS_PARAMS = {
    "epochs.epoch_length_blocks": 30,
    "verification.new_executor_check_rate_ppm": CHECK_RATE_PPM,
    "verification.min_check_rate_ppm": CHECK_RATE_PPM,
    "verification.reveal_window_blocks": 6,
    "verification.dispute_window_blocks": 60,
}
BRING_UP_TIMEOUT_S = 600.0
# Answers asked for before one comes from the impostor (a quarter of the draws): missing
# it 30 times is a 2-in-10^4 event.
ASK_LIMIT = 30
VERDICT_TIMEOUT_S = 120.0
CAUGHT = "TASK_STATUS_CAUGHT"
FAIL = "VERDICT_FAIL"
PASS = "VERDICT_PASS"


def race(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s: {what}"
        time.sleep(every)


@dataclass
class Answer:
    request_id: str
    executor: str
    tokens: int


@dataclass
class VerificationNet:
    net: Localnet
    bring_up_s: float
    answers: list[Answer] = field(default_factory=list)
    key: dict[str, Any] = field(default_factory=dict)
    caught: dict[str, Any] = field(default_factory=dict)

    @property
    def home0(self) -> str:
        return str(self.net.home(0).root)

    def cli(self, *args: str) -> dict[str, Any]:
        return race(*args, "--home", self.home0)

    def cli_or_none(self, *args: str) -> dict[str, Any] | None:
        result = CliRunner().invoke(app, [*args, "--home", self.home0, "--output", "json"])
        return json.loads(result.stdout) if result.exit_code == 0 else None

    def operator(self, index: int) -> str:
        return str(self.net.node(index)["account"])

    @property
    def impostor(self) -> str:
        return self.operator(IMPOSTOR)

    @property
    def honest(self) -> list[str]:
        return [self.operator(i) for i in HONEST]

    def client(self) -> openai.OpenAI:
        gateway = self.net.gateway()
        assert gateway is not None
        return openai.OpenAI(base_url=gateway["openai"], api_key=self.key["api_key"])

    def height(self) -> int:
        with self.net.rpc(0) as rpc:
            return rpc.latest_height()

    def broken_invariants(self) -> list[str]:
        with self.net.rpc(0) as rpc:
            return list(rpc.abci_query("/app/invariants").json()["broken"])

    def task(self, request_id: str) -> dict[str, Any] | None:
        found = self.cli_or_none("inference", "task", request_id)
        return found["tasks"][0] if found and found.get("tasks") else None

    def api_key(self) -> dict[str, Any]:
        gateway = self.net.gateway()
        assert gateway is not None
        return httpx.get(f"{gateway['rest']}/race/inference/v1/keys/{self.key['key_hash']}",
                         timeout=10).json()["key"]

    def balance(self, address: str) -> int:
        with self.net.rpc(0) as rpc:
            return int(rpc.abci_query(f"/bank/balance/{address}").json()["amount"])

    def cycle(self, number: int) -> dict[str, Any]:
        with self.net.rpc(0) as rpc:
            return to_json(ChainQueries(rpc).call(
                "RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=number)))["cycle"]

    def ask(self, content: str) -> Answer:
        raw = self.client().chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=8)
        completion = raw.parse()
        answer = Answer(raw.headers["x-race-request-id"], raw.headers["x-race-executor"],
                        completion.usage.total_tokens)
        self.answers.append(answer)
        return answer

    def ask_until(self, executors: Callable[[list[Answer]], bool], limit: int) -> None:
        for n in range(limit):
            self.ask(f"Name {n + 2} colours of the rainbow.")
            if executors(self.answers):
                return
        raise AssertionError(f"{limit} answers, executors "
                             f"{[a.executor for a in self.answers]}")

    def charges(self) -> tuple[int, int]:
        """(kept, refunded): every answer's charge, by whether its task was caught, once
        each answer has settled and each of the impostor's is caught; the API key has
        spent exactly what was kept."""
        tasks = []
        for answer in self.answers:
            wanted = CAUGHT if answer.executor == self.impostor else None

            def settled(a: Answer = answer, status: str | None = wanted) -> Any:
                task = self.task(a.request_id)
                return task if task and status in (None, task["task"]["status"]) else None

            tasks.append(wait_for(settled, VERDICT_TIMEOUT_S,
                                  f"request {answer.request_id} settled ({wanted or 'any'})"))
        kept = sum(int(t["task"]["charged_nicoin"]) for t in tasks
                   if t["task"]["status"] != CAUGHT)
        refunded = sum(int(t["task"]["charged_nicoin"]) for t in tasks
                       if t["task"]["status"] == CAUGHT)
        key = self.api_key()
        assert int(key["spent_nicoin"]) == kept
        assert int(key["remaining_nicoin"]) == int(key["budget_nicoin"]) - kept
        return kept, refunded

    def agent_signal(self, indices: tuple[int, ...], signum: int) -> None:
        for index in indices:
            pid = self.net.agent_process(index).pid()
            assert pid is not None
            os.kill(pid, signum)


def _start_engines(net: Localnet) -> None:
    """The two vLLMs, which take longest, before anything else: the impostor's own (tiny)
    engine and the shared one the honest nodes' sidecars forward to."""
    sidecar = impostor_sidecar(net, IMPOSTOR, impostor_model_path())
    sidecar.env = net.sidecar_environment(IMPOSTOR)
    sidecar.start()
    engine, info = net.engine_process(), net.engine()
    assert engine is not None and info is not None
    engine.env = {**OFFLINE_ENV, SIDECAR_TOKEN_ENV: read_token(Path(info["token_file"]))}
    engine.start()


def _start_providers(net: Localnet) -> None:
    """The honest nodes' sidecars and every agent, without the localnet's health wait:
    ready, here, is every node serving the model."""
    for index in range(PROVIDERS):
        if index != IMPOSTOR:
            honest = net.sidecar_process(index)
            honest.env = net.sidecar_environment(index)
            honest.start()
        agent = net.agent_process(index)
        agent.env = OFFLINE_ENV
        agent.start()


def _serving(net: Localnet) -> bool:
    gateway = net.gateway()
    assert gateway is not None
    try:
        providers = httpx.get(f"{gateway['rest']}/race/inference/v1/providers/{MODEL}",
                              timeout=5).json()["providers"]
        return (len(providers) == PROVIDERS
                and httpx.get(f"{gateway['openai']}/models", timeout=5).status_code == 200)
    except (httpx.HTTPError, KeyError, ValueError):
        return False


@pytest.fixture(scope="module")
def vnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerificationNet]:
    started = time.monotonic()
    directory = tmp_path_factory.mktemp("verification") / "net"
    params = [option for name, value in GENESIS_PARAMS.items()
              for option in ("--param", f"{name}={value}")]
    race("localnet", "init", "--validators", str(PROVIDERS), "--dir", str(directory),
         "--base-port", str(free_port_block(PROVIDERS)), *params)
    net = Localnet(directory)
    try:
        _start_engines(net)
        net.start(gateway=True)
        _start_providers(net)
        wait_for(lambda: _serving(net), BRING_UP_TIMEOUT_S,
                 "every provider serving the model", every=1.0)
        network = VerificationNet(net, bring_up_s=time.monotonic() - started)
        network.key = network.cli("apikey", "create", "--from", "developer",
                                  "--budget", "50icoin")
        yield network
    finally:
        net.stop(timeout=20)


def _verdicts(task: dict[str, Any]) -> dict[str, str]:
    return {check["verifier"]: check["verdict"] for check in task["checks"]}


# --- the impostor --------------------------------------------------------------------------

def test_every_weighted_node_commits_its_seeds(vnet: VerificationNet) -> None:
    def committed() -> dict[str, Any] | None:
        epoch = vnet.cli("verification", "epoch")
        mine = {v["verifier"]: v for v in epoch["verifiers"]}
        everyone = [vnet.operator(i) for i in range(PROVIDERS)]
        return epoch if all(mine.get(a, {}).get("commitment") for a in everyone) else None

    epoch = wait_for(committed, 60, "every node's seed commitment for the epoch")
    # Weighted when the epoch started (a node that had not raced yet commits all the same,
    # with weight 0: it verifies from the next epoch on).
    assert int(epoch["epoch"]["total_weight"]) > 0
    assert any(int(v["weight"]) > 0 for v in epoch["verifiers"])
    print(f"bring-up {vnet.bring_up_s:.0f}s; epoch {epoch['epoch']['epoch']} weights "
          + ", ".join(f"{v['verifier'][-6:]} {v['weight']}" for v in epoch["verifiers"]))
    assert vnet.broken_invariants() == []


def test_the_impostor_is_caught_within_one_race_cycle(vnet: VerificationNet) -> None:
    # A clean cycle released first, so that the reset below is one.
    before = wait_for(lambda: (found := vnet.cli("reputation", vnet.impostor)["reputation"])
                      and int(found["reputation"]) >= 1 and found, 90,
                      "the impostor's first clean cycle released", every=2.0)
    vnet.ask_until(lambda answers: any(a.executor == vnet.impostor for a in answers)
                   and sum(a.executor != vnet.impostor for a in answers) >= 2, ASK_LIMIT)
    assert vnet.broken_invariants() == []
    cheated = next(a for a in vnet.answers if a.executor == vnet.impostor)

    def caught() -> dict[str, Any] | None:
        task = vnet.task(cheated.request_id)
        return task if task and task["task"]["status"] == CAUGHT else None

    task = wait_for(caught, VERDICT_TIMEOUT_S, f"the impostor's task {cheated.request_id}")
    vnet.caught = task
    settled = int(task["task"]["settled_height"])
    dispute = task["dispute"]
    closed = int(dispute["closed_height"])
    # Decided by more than half of the weight other than the executor's, the honest
    # verifiers' replays failing it on their own sidecars.
    assert 2 * int(dispute["fail_weight"]) > int(dispute["eligible_weight"])
    verdicts = _verdicts(task)
    failed = [v for v in vnet.honest if verdicts.get(v) == FAIL]
    assert failed and verdicts.get(vnet.impostor) is None, task["checks"]
    assert all("replay" in c["reason"] for c in task["checks"]
               if c["verifier"] in failed), task["checks"]
    # Within one Race cycle: fewer blocks after settlement than the last closed cycle's
    # race-to-boundary span (a cycle also waits for its seed), and before the task's
    # cycle is released (its held rewards are forfeited below).
    number = int(task["task"]["cycle"])
    last = vnet.cycle(number - 1)
    length = int(last["validation_end_height"]) - int(last["race_start_height"]) + 1
    assert 0 < closed - settled < length, (settled, closed, last)
    print(f"impostor task settled at {settled} (cycle {number}), caught at {closed}: "
          f"{closed - settled} blocks; cycle {number - 1} ran {last['race_start_height']}.."
          f"{last['validation_end_height']}; fail weight {dispute['fail_weight']} of "
          f"{dispute['eligible_weight']}; reputation before {before['reputation']}")
    reputation = vnet.cli("reputation", vnet.impostor)["reputation"]
    assert reputation["reputation"] == "0" and int(reputation["caught_cycles"]) >= 1
    held = vnet.cli("rewards", "show", vnet.impostor)
    caught_cycle = next(h for h in held["held"] if h["cycle"] == task["task"]["cycle"])
    assert caught_cycle["caught"] is True
    assert vnet.broken_invariants() == []


def test_the_developer_is_refunded_each_caught_charge(vnet: VerificationNet) -> None:
    assert vnet.caught, "the impostor was not caught"
    kept, refunded = vnet.charges()
    assert refunded > 0
    print(f"refunded {refunded} nicoin of {kept + refunded} charged")
    assert vnet.broken_invariants() == []


def test_honest_answers_pass_and_honest_rewards_are_released(vnet: VerificationNet) -> None:
    honest_answers = [a for a in vnet.answers if a.executor != vnet.impostor]
    for answer in honest_answers:
        def passed(a: Answer = answer) -> dict[str, Any] | None:
            task = vnet.task(a.request_id)
            others = [v for v in vnet.honest if v != a.executor]
            return task if task and all(_verdicts(task).get(v) == PASS
                                        for v in others) else None

        task = wait_for(passed, VERDICT_TIMEOUT_S, f"honest request {answer.request_id}")
        assert task["task"]["status"] != CAUGHT
    cycle = int(vnet.caught["task"]["cycle"])

    def released() -> dict[str, Any] | None:
        document = vnet.cli("rewards", "show", "--cycle", str(cycle))
        return document if document["released"] else None

    document = wait_for(released, 180, f"cycle {cycle}'s release", every=2.0)
    nodes = {n["node"]: n for n in document["nodes"]}
    for operator in vnet.honest:
        assert "released" in nodes[operator]["outcome"].split(","), nodes[operator]
        assert int(nodes[operator]["released"]) > 0 and nodes[operator]["forfeited"] == "0"
    impostor = nodes[vnet.impostor]
    assert impostor["caught"] and int(impostor["released"]) == 0
    assert int(impostor["forfeited"]) > 0
    print(f"cycle {cycle} released: " + ", ".join(
        f"{n['node'][-6:]} {n['outcome']} {n['released']}/{n['forfeited']}"
        for n in document["nodes"]))
    assert vnet.broken_invariants() == []


# --- a report ------------------------------------------------------------------------------

def test_a_developer_report_is_upheld_by_the_weighted_majority(vnet: VerificationNet) -> None:
    """The honest agents are paused (SIGSTOP) from the impostor's answer until the
    developer's report is in a block, so the report, not a verifier, opens the dispute;
    resumed, they replay the task and decide it."""
    developer = vnet.key["owner"]
    before = len(vnet.answers)
    vnet.ask_until(lambda answers: answers[-1].executor == vnet.impostor
                   and len(answers) > before, ASK_LIMIT)
    reported = vnet.answers[-1]
    vnet.agent_signal(HONEST, signal.SIGSTOP)
    try:
        wait_for(lambda: vnet.task(reported.request_id), 60, "the reported task settled")
        balance = vnet.balance(developer)
        outcome = vnet.cli("inference", "report", reported.request_id, "--from", "developer",
                           "--reason", "not SmolLM2's answer")
        print(f"report: {outcome}")
    finally:
        vnet.agent_signal(HONEST, signal.SIGCONT)
    task = wait_for(lambda: (t := vnet.task(reported.request_id))
                    and t["task"]["status"] == CAUGHT and t, VERDICT_TIMEOUT_S,
                    "the reported task decided")
    assert task["dispute"]["reporter"] == developer
    assert not task["dispute"]["accuser"]
    assert 2 * int(task["dispute"]["fail_weight"]) > int(task["dispute"]["eligible_weight"])
    # The report fee came back (the tx's own fee, far smaller, is spent), and the charge.
    fee = int(task["dispute"]["report_fee_nicoin"])
    assert fee > 0 and vnet.balance(developer) > balance - fee // 10
    assert int(task["task"]["charged_nicoin"]) > 0
    kept, refunded = vnet.charges()
    print(f"report upheld at {task['dispute']['closed_height']} (reported at "
          f"{outcome['height']}); refunded {refunded} of {kept + refunded} charged in all")
    assert vnet.broken_invariants() == []
