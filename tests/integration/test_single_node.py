"""One real cometbft + our ABCI app: send and query, restart, and crash recovery.

DESIGN.md §3: a block's writes commit atomically at Commit, and after a crash the app
replays to the same hash; §8: a crashed node restarts into the same state.
"""

from __future__ import annotations

import re
import sys
import time

import pytest
from race_cli import race_json

from race_node.client.rpc import CometRPC
from race_node.node.home import NodeHome
from race_node.node.runner import NodeRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FINALIZED_RE = re.compile(r"finalized block\s+module=\w+ height=(\d+) .*block_app_hash=(\w+)")


def wait_until_quiet(rpc: CometRPC, quiet_for: float = 1.0, timeout: float = 20.0) -> dict:
    """The app's (height, hash) once no block has been added for ``quiet_for`` seconds."""
    deadline = time.monotonic() + timeout
    last = rpc.abci_info()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = rpc.abci_info()
        if current["last_block_height"] != last["last_block_height"]:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return current
    raise AssertionError("the chain kept making blocks without txs")


def finalized_hashes(home: NodeHome) -> list[tuple[int, str]]:
    """Every (height, app hash) cometbft logged after FinalizeBlock, in log order."""
    text = (home.logs_dir / "cometbft.log").read_text()
    return [(int(h), app_hash) for h, app_hash in FINALIZED_RE.findall(text)]


def test_send_query_then_restart_keeps_state_and_app_hash(node: NodeRunner, cli) -> None:
    home = str(node.home.root)
    bob = race_json(cli, "keys", "add", "bob", "--home", home)["address"]

    sent = race_json(cli, "tx", "send", bob, "1.5icoin", "--from", "validator", "--home", home)
    assert sent["code"] == 0, sent
    assert race_json(cli, "query", "balance", bob, "--home", home)["amount_nicoin"] == (
        "1500000000")
    looked_up = race_json(cli, "query", "tx", sent["hash"], "--home", home)
    assert (looked_up["height"], looked_up["code"]) == (sent["height"], 0)

    with node.rpc() as rpc:
        before = wait_until_quiet(rpc)
    node.stop()
    node.start()
    with node.rpc() as rpc:
        assert wait_until_quiet(rpc) == before

    assert race_json(cli, "query", "balance", bob, "--home", home)["amount_nicoin"] == (
        "1500000000")
    # The sender's sequence survived too: a second send signs with sequence 1 and commits.
    again = race_json(cli, "tx", "send", bob, "300nicoin", "--from", "validator", "--home", home)
    assert (again["code"], again["sequence"]) == (0, 1)
    assert race_json(cli, "query", "balance", bob, "--home", home)["amount_nicoin"] == (
        "1500000300")


def test_app_killed_between_finalize_and_commit_replays_to_the_same_hash(
        busy_node_home: NodeHome, cli) -> None:
    from abci_app.tx import build_signed_tx
    from race_node.client.keyring import Keyring
    from race_protocol.gen.race.v1 import bank_pb2

    keyring = Keyring(busy_node_home.keyring_dir)
    sender = keyring.show("validator")
    signer = keyring.private_key("validator")
    bob = keyring.add("bob").address

    probe = NodeRunner(busy_node_home)
    probe.start()
    with probe.rpc() as rpc:
        crash_height = rpc.latest_height() + 8
        chain_id = rpc.status()["node_info"]["network"]
        fee = int(rpc.abci_query("/auth/params").json().get("min_fee_nicoin", 0) or 0)
    probe.stop()

    node = NodeRunner(busy_node_home, app_command=[
        sys.executable, "-m", "tests.faults.crashing_app",
        "--crash-before-commit-height", str(crash_height)])
    node.start()
    sent: dict[str, int] = {}  # tx hash -> amount
    try:
        with node.rpc(timeout=2.0) as rpc:
            sequence = 0
            deadline = time.monotonic() + 60
            while node.app.running() and time.monotonic() < deadline:
                amount = 1000 + sequence
                tx = build_signed_tx(signer, chain_id, sequence, fee, [bank_pb2.MsgSend(
                    from_address=sender.address, to_address=bob, amount_nicoin=amount)])
                try:
                    checked = rpc.broadcast_tx_sync(tx)
                except Exception:
                    break  # the node is going down with its app
                assert checked.ok, checked
                sent[checked.hash] = amount
                sequence += 1
                time.sleep(0.02)
        assert not node.app.running(), "the fault switch did not stop the app"
    finally:
        node.stop()

    before_crash = dict(finalized_hashes(busy_node_home))
    assert crash_height in before_crash, "cometbft never finalized the crash height"
    hash_before_crash = before_crash[crash_height]

    node = NodeRunner(busy_node_home)
    node.start()
    try:
        with node.rpc() as rpc:
            rpc.wait_for_height(crash_height + 2, timeout=30)
            replayed = [h for height, h in finalized_hashes(busy_node_home)
                        if height == crash_height]
            assert replayed == [hash_before_crash, hash_before_crash]
            next_header = rpc.block(crash_height + 1)["block"]["header"]
            assert next_header["app_hash"] == hash_before_crash

            crash_block_txs = rpc.block(crash_height)["block"]["data"]["txs"]
            assert crash_block_txs, "the crash block carried none of the test's txs"
            committed = {h: a for h, a in sent.items() if rpc.tx(h) is not None}
            assert all(rpc.tx(h).ok for h in committed)
            balance = int(rpc.abci_query(f"/bank/balance/{bob}").json()["amount"])
            account = rpc.abci_query(f"/auth/account/{sender.address}").json()
        # Nothing committed is lost: every tx in a block (the crash block's included) moved
        # its coins, and the sequence counts exactly those txs.
        assert balance == sum(committed.values())
        assert int(account["sequence"]) == len(committed)
        assert len(committed) >= len(crash_block_txs)
    finally:
        node.stop()
