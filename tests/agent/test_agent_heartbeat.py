"""The agent's test duty on a real node: a heartbeat tx every N blocks, reported by the
status endpoint and by ``race agent status``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from governance.main import app
from race_node.node.runner import NodeRunner
from tests.agent.agent_process import (
    AgentProcess,
    assert_one_heartbeat_per_period,
    heartbeat_heights,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

EVERY = 3


def test_a_heartbeat_lands_every_n_blocks_and_the_status_says_so(
        node: NodeRunner, operator: str, agents: Callable[..., AgentProcess]) -> None:
    agent = agents("--heartbeat-every", str(EVERY))
    started = agent.start()
    first = agent.wait_for(lambda s: s["last_height"] is not None, 30, "a first height")
    running = agent.wait_until_height(first["last_height"] + 4 * EVERY)

    printed = CliRunner().invoke(app, ["agent", "status", "--status-address",
                                       agent.status_address, "--output", "json"])
    table = CliRunner().invoke(app, ["agent", "status", "--status-address",
                                     agent.status_address])
    assert agent.terminate() == 0
    with node.rpc() as rpc:
        stopped_at = json.loads(printed.stdout)["last_height"]
        rpc.wait_for_height(rpc.latest_height() + 2)  # the last heartbeat's block
        heights = heartbeat_heights(rpc, operator)

    assert_one_heartbeat_per_period(heights, EVERY, running["last_height"])
    assert started["operator"] == operator and started["sidecar"]["configured"] is False
    status = json.loads(printed.stdout)
    assert set(status) >= {"last_height", "chain_height", "node", "sidecar", "txs", "duties",
                           "started_at"}
    assert status["node"]["connected"] is True and status["chain_height"] >= stopped_at
    assert status["txs"]["sent"] >= len([h for h in heights if h <= stopped_at])
    assert status["txs"]["failed"] == 0
    assert [(d["trigger"], d["failures"]) for d in status["duties"]
            if d["name"] == "heartbeat"] == [("block", 0)]
    assert table.exit_code == 0 and "heartbeat" in table.stdout


def test_a_cursor_of_another_chain_is_refused_with_a_clear_error(
        node: NodeRunner, agents: Callable[..., AgentProcess]) -> None:
    cursor = node.home.root / "agent" / "cursor.json"
    cursor.parent.mkdir()
    cursor.write_text(json.dumps({"height": 3, "chain_id": "some-other-chain"}))
    agent = agents()

    exit_status = agent.launch().wait(timeout=60)

    message = " ".join(agent.log_tail().split())  # the error is wrapped for the terminal
    assert exit_status == 1
    assert "'some-other-chain' but the node runs 'race-agent'" in message
