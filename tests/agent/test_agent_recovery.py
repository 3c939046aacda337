"""The agent through crashes and outages, on real processes: killed with -9 it resumes
from its cursor and never repeats a heartbeat; it rides out a node restart and a sidecar
restart, and its status endpoint says what is down."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from abci_app.tx import build_signed_tx
from race_node.agent.heartbeat import heartbeat_key, heartbeat_memo
from race_node.client.broadcast import Broadcaster, Signer
from race_node.client.journal import SIGNED, BroadcastJournal, JournalEntry
from race_node.client.keyring import Keyring
from race_node.client.rpc import tx_hash
from race_node.node.runner import NodeRunner
from race_protocol.gen.race.v1 import bank_pb2
from tests.agent.agent_process import (
    AgentProcess,
    assert_one_heartbeat_per_period,
    heartbeat_heights,
)
from tests.client.sidecar_process import SidecarProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EVERY = 2
SIDECAR_TOKEN = "agent-test-token"


def saved_cursor(node: NodeRunner) -> int:
    return int(json.loads((node.home.root / "agent" / "cursor.json").read_text())["height"])


def committed_heartbeats(node: NodeRunner, operator: str) -> list[int]:
    with node.rpc() as rpc:
        rpc.wait_for_height(rpc.latest_height() + 2)  # the last accepted heartbeat's block
        return heartbeat_heights(rpc, operator)


def test_killed_with_sigkill_it_resumes_from_its_cursor_and_never_repeats_a_heartbeat(
        node: NodeRunner, operator: str, agents: Callable[..., AgentProcess]) -> None:
    agent = agents("--heartbeat-every", str(EVERY))
    chooser = random.Random(7)
    agent.start()
    reached = agent.wait_for(lambda s: s["last_height"] is not None, 30, "a first height")
    for _crash in range(4):
        reached = agent.wait_until_height(reached["last_height"] + 3 * EVERY)
        time.sleep(chooser.uniform(0.0, 0.6))  # somewhere inside a height's work
        agent.kill()
        cursor = saved_cursor(node)
        time.sleep(1.0)  # the chain moves on while the agent is down
        agent.start()
        assert f"resuming after height {cursor} (the cursor)" in agent.log_tail()
        reached = agent.wait_until_height(cursor + 2 * EVERY)
    assert agent.terminate() == 0

    assert_one_heartbeat_per_period(committed_heartbeats(node, operator), EVERY,
                                    reached["last_height"])


def test_a_heartbeat_signed_just_before_a_crash_is_the_one_that_lands(
        node: NodeRunner, operator: str, agents: Callable[..., AgentProcess]) -> None:
    agent = agents("--heartbeat-every", str(EVERY))
    agent.start()
    agent.wait_for(lambda s: s["last_height"] is not None, 30, "a first height")
    agent.kill()
    cursor = saved_cursor(node)
    target = cursor + EVERY - cursor % EVERY  # the next height with a heartbeat
    # What a kill between "persist the signed tx" and "broadcast it" leaves in the journal.
    signer = Signer.from_keyring(Keyring(node.home.keyring_dir), "validator")
    with node.rpc() as rpc:
        rpc.wait_for_height(rpc.latest_height() + 2)  # the killed agent's last tx lands
        probe = Broadcaster(rpc, signer)
        sequence = probe.committed_sequence()
        # 2 nicoin, not the duty's 1: a rebuilt heartbeat would be a different tx.
        tx = build_signed_tx(signer.private_key, probe.chain_id, sequence, probe.fee_nicoin,
                             [bank_pb2.MsgSend(from_address=operator, to_address=operator,
                                               amount_nicoin=2)],
                             memo=heartbeat_memo(target))
    journal = BroadcastJournal(node.home.root / "agent" / "journal.sqlite")
    journal.record_signed(JournalEntry(heartbeat_key(target), tx_hash(tx), tx, operator,
                                       sequence, SIGNED))
    journal.close()

    agent.start()
    reached = agent.wait_until_height(target + 2 * EVERY)
    assert agent.terminate() == 0

    assert_one_heartbeat_per_period(committed_heartbeats(node, operator), EVERY,
                                    reached["last_height"])
    with node.rpc() as rpc:
        landed = rpc.tx(tx_hash(tx))
    assert landed is not None and landed.ok


def test_it_rides_out_a_node_restart(
        node: NodeRunner, operator: str, agents: Callable[..., AgentProcess]) -> None:
    agent = agents("--heartbeat-every", str(EVERY))
    agent.start()
    before = agent.wait_for(lambda s: (s["last_height"] or 0) >= 2 * EVERY and
                            s["node"]["connected"], 30, "the agent to follow the node")

    node.stop()
    down = agent.wait_for(lambda s: not s["node"]["connected"], 30,
                          "the status to report the node gone")
    node.start()
    after = agent.wait_for(lambda s: s["node"]["connected"] and
                           s["last_height"] >= before["last_height"] + 4 * EVERY, 90,
                           "the agent to follow the restarted node")
    assert agent.terminate() == 0

    assert down["node"]["error"]
    assert_one_heartbeat_per_period(committed_heartbeats(node, operator), EVERY,
                                    after["last_height"])
    assert after["txs"]["failed"] == 0


def test_it_follows_its_sidecar_through_a_restart(
        tmp_path: Path, agents: Callable[..., AgentProcess]) -> None:
    # A Race-only sidecar starts in seconds; the client asks whichever services it serves.
    sidecar = SidecarProcess(tmp_path / "sidecar.log", ["--no-inference"], token=SIDECAR_TOKEN)
    token_file = tmp_path / "sidecar.token"
    token_file.write_text(SIDECAR_TOKEN + "\n")
    sidecar.start()
    try:
        agent = agents("--heartbeat-every", "0", "--sidecar", sidecar.address,
                       "--sidecar-token-file", str(token_file),
                       "--sidecar-health-interval", "0.5")
        agent.start()
        healthy = agent.wait_for(lambda s: s["sidecar"]["healthy"] and
                                 s["last_height"] is not None, 30, "a healthy sidecar")

        sidecar.stop()
        gone = agent.wait_for(lambda s: not s["sidecar"]["healthy"], 30,
                              "the status to report the sidecar gone")
        sidecar.start()
        back = agent.wait_for(lambda s: s["sidecar"]["healthy"], 60,
                              "the agent to find the restarted sidecar")
        assert agent.terminate() == 0
    finally:
        sidecar.stop()

    assert healthy["sidecar"]["address"] == sidecar.address
    assert healthy["sidecar"]["race_engine"] is True and healthy["sidecar"]["error"] is None
    assert "UNAVAILABLE" in gone["sidecar"]["error"]
    assert back["last_height"] > healthy["last_height"]
    assert SIDECAR_TOKEN not in agent.log_tail(100_000)
