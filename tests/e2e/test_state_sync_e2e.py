"""A fifth node joins a running four-validator localnet by state sync: it restores a
snapshot the validators took (checked against the light-client verified app hash), never
replays the blocks before it, and then follows the chain to the same app hash as the
validators (Localnet.add_node; DESIGN.md §3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from localnet_ports import free_port_block

from race_node.client.rpc import CometRPC
from race_node.localnet import Localnet, LocalnetSpec

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

VALIDATORS = 4
SNAPSHOT_INTERVAL = 5


def app_info(rpc: CometRPC) -> tuple[int, str]:
    info = rpc.abci_info()
    return int(info["last_block_height"]), info["last_block_app_hash"]


def same_height_hashes(validator: CometRPC, joiner: CometRPC, timeout: float = 60.0
                       ) -> tuple[tuple[int, str], tuple[int, str]]:
    """The two apps' (height, app hash), read until both report the same height."""
    deadline = time.monotonic() + timeout
    while True:
        ours, theirs = app_info(validator), app_info(joiner)
        if ours[0] == theirs[0] or time.monotonic() > deadline:
            return ours, theirs
        time.sleep(0.2)


def test_a_full_node_joins_by_state_sync_and_reaches_the_same_app_hash(
        localnet_dir: Path) -> None:
    spec = LocalnetSpec(validators=VALIDATORS, base_port=free_port_block(VALIDATORS + 1),
                        providers=False, gateway=False, timeout_commit="200ms",
                        snapshot_interval=SNAPSHOT_INTERVAL, snapshot_keep=20)
    net = Localnet.create(localnet_dir, spec)
    net.start()
    with net.rpc(0) as rpc:
        rpc.wait_for_height(3 * SNAPSHOT_INTERVAL + 2, timeout=90)
        served = json.loads((net.home(0).root / "app" / "snapshots").joinpath(
            str(SNAPSHOT_INTERVAL * 3), "snapshot.json").read_text())
    assert served["height"] == 3 * SNAPSHOT_INTERVAL

    joined = net.add_node(state_sync=True)

    with net.full_node_rpc(joined, timeout=5) as joiner, net.rpc(0) as validator:
        target = validator.latest_height() + 3
        joiner.wait_for_height(target, timeout=120)
        status = joiner.status()["sync_info"]
        ours, theirs = same_height_hashes(validator, joiner)

    assert int(status["earliest_block_height"]) > 1, "the node replayed from genesis"
    assert theirs == ours and ours[1]
    log = (Path(net.full_node(joined)["home"]) / "logs" / "cometbft.log").read_text()
    assert "Snapshot restored" in log or "snapshot restored" in log.lower()
