"""The beacon on a four-validator localnet (the chain alone, no sidecars), each validator's
agent doing its beacon duty: rounds complete on their own and every node reports the same
output; a node that withholds its reveal on purpose (tests/faults/withholding_agent.py)
changes nothing, the output is the one computed offline from all four secrets; a node
stopped for a whole round is recorded as a non-revealer while the round completes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from governance.main import app
from race_node.agent.beacon import BeaconVault
from race_node.client.queries import ChainQueries, QueryFailed, to_json
from race_node.localnet import Localnet
from race_protocol.beacon.output import round_output
from race_protocol.beacon.pvss import contribution
from race_protocol.gen.race.v1 import query_pb2
from tests.client.live_node import REPO_ROOT, free_port
from tests.e2e.localnet_ports import free_port_block

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

VALIDATORS = 4
WITHHOLDER = 3
STOPPED = 1
WINDOW_BLOCKS = 6
COMPLETE = "BEACON_ROUND_STATUS_COMPLETE"


def race(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


class Agent:
    """One node's agent process: ``race agent start``, or the withholding one."""

    def __init__(self, net: Localnet, index: int, log_dir: Path) -> None:
        self.net, self.index = net, index
        self.log_path = log_dir / f"agent{index}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, withhold: bool = False) -> None:
        entry = (["-m", "tests.faults.withholding_agent"] if withhold
                 else ["-m", "governance.main", "agent", "start"])
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *entry, "--home", str(self.net.home(self.index).root),
                 "--node", self.net.node(self.index)["rpc"], "--key", "validator",
                 "--status-address", f"127.0.0.1:{free_port()}", "--heartbeat-every", "0"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def query(net: Localnet, index: int, method: str, request: Any = None) -> dict[str, Any]:
    with net.rpc(index, timeout=5) as rpc:
        return to_json(ChainQueries(rpc).call(method, request))


def round_answer(net: Localnet, index: int, round_id: int) -> dict[str, Any]:
    return query(net, index, "BeaconRound", query_pb2.QueryBeaconRoundRequest(round=round_id))


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except QueryFailed:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def final_round_where(net: Localnet, after: int, test: Callable[[dict[str, Any]], bool],
                      timeout: float, what: str) -> dict[str, Any]:
    """The first final round after ``after`` whose answer passes ``test``."""

    def found() -> dict[str, Any] | None:
        latest = int(query(net, 0, "BeaconLatest")["round"])
        for round_id in range(after + 1, latest + 1):
            answer = round_answer(net, 0, round_id)
            if test(answer):
                return answer
        return None

    return wait_for(found, timeout, what)


def operator(net: Localnet, index: int) -> str:
    return net.keyring(index).show("validator").address


def secrets_output(net: Localnet, round_id: int, nodes: list[int]) -> str:
    chain_id = net.spec().chain_id
    pairs = []
    for index in nodes:
        secret = BeaconVault(net.home(index).root / "agent").secret(chain_id, round_id)
        assert secret is not None, f"node{index} kept no secret for round {round_id}"
        pairs.append((operator(net, index), contribution(secret)))
    return round_output(round_id, pairs).hex()


@pytest.fixture
def localnet(tmp_path: Path) -> Iterator[tuple[Localnet, list[Agent]]]:
    directory = tmp_path / "net"
    race("localnet", "init", "--validators", str(VALIDATORS), "--dir", str(directory),
         "--base-port", str(free_port_block(VALIDATORS)), "--timeout-commit", "300ms",
         "--timeout-propose", "1s", "--no-providers", "--no-gateway",
         "--param", f"beacon.commit_window_blocks={WINDOW_BLOCKS}",
         "--param", f"beacon.reveal_window_blocks={WINDOW_BLOCKS}",
         "--param", f"beacon.recovery_window_blocks={WINDOW_BLOCKS}")
    net = Localnet(directory)
    agents = [Agent(net, i, tmp_path) for i in range(VALIDATORS)]
    try:
        race("localnet", "start", "--dir", str(directory))
        yield net, agents
    finally:
        for agent in agents:
            agent.stop()
        net.stop(timeout=15)


def test_beacon_rounds_on_a_four_validator_localnet(
        localnet: tuple[Localnet, list[Agent]]) -> None:
    net, agents = localnet
    for agent in agents:
        agent.start(withhold=agent.index == WITHHOLDER)
    withholder = operator(net, WITHHOLDER)

    # A round all four nodes dealt in, the withholder the only one not to reveal.
    withheld = final_round_where(
        net, 0, lambda a: (a["round"]["dealt"] == str(VALIDATORS)
                           and a["non_revealers"] == [withholder]), 240,
        "a round in which all four nodes dealt and only node3 withheld")
    round_id = int(withheld["round"]["round"])
    assert withheld["round"]["status"] == COMPLETE
    assert withheld["round"]["recovered"] == "1"
    assert withheld["round"]["output"] == secrets_output(net, round_id, list(range(VALIDATORS)))
    assert {round_answer(net, i, round_id)["round"]["output"]
            for i in range(VALIDATORS)} == {withheld["round"]["output"]}

    # The withholder behaves again; node 1 stops for a whole round.
    agents[WITHHOLDER].stop()
    agents[WITHHOLDER].start()
    honest = final_round_where(
        net, round_id, lambda a: a["round"]["revealed"] == str(VALIDATORS), 180,
        "a round in which all four revealed")
    stopped_at = int(query(net, 0, "BeaconLatest")["current_round"])
    agents[STOPPED].stop()
    net.stop([STOPPED], timeout=15)
    absent = final_round_where(net, stopped_at, lambda a: True, 180,
                               "a round run entirely while node1 was stopped")
    assert absent["round"]["status"] == COMPLETE
    assert absent["non_revealers"] == absent["excluded"] == [operator(net, STOPPED)]
    assert absent["round"]["output"] == secrets_output(
        net, int(absent["round"]["round"]), [0, 2, 3])

    # Node 1 comes back, catches up, and reports the same outputs as the others.
    race("localnet", "start", "--dir", str(net.directory), "--node", str(STOPPED))
    agents[STOPPED].start()
    latest = int(query(net, 0, "BeaconLatest")["round"])
    wait_for(lambda: int(query(net, STOPPED, "BeaconLatest")["round"]) >= latest, 120,
             "node1 to catch up")
    for answer in (withheld, honest, absent):
        number = int(answer["round"]["round"])
        assert round_answer(net, STOPPED, number)["round"]["output"] == \
            answer["round"]["output"]
    record = query(net, 0, "BeaconRecord",
                   query_pb2.QueryBeaconRecordRequest(address=operator(net, STOPPED)))
    assert int(record["record"]["missed_deals"]) >= 1
