"""Fixtures for tests that run a real single cometbft node with our ABCI app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from race_cli import free_port_pair
from typer.testing import CliRunner

from race_node.node.home import NodeConfigError, NodeHome, find_cometbft
from race_node.node.init import ConsensusTimings, init_single_node
from race_node.node.runner import NodeRunner

GENESIS_BALANCE_NICOIN = 1_000_000 * 10**9


@pytest.fixture(scope="session", autouse=True)
def _cometbft_available() -> None:
    try:
        find_cometbft()
    except NodeConfigError as exc:
        pytest.fail(f"integration tests need cometbft: {exc}")


def make_home(root: Path, empty_blocks: bool) -> NodeHome:
    """A freshly initialised single-validator home whose `validator` key is funded."""
    p2p, rpc = free_port_pair()
    init_single_node(root, chain_id="race-it", moniker="it-node",
                     key_name="validator", genesis_balance_nicoin=GENESIS_BALANCE_NICOIN,
                     rpc_port=rpc, p2p_port=p2p,
                     timings=ConsensusTimings(timeout_propose="500ms", timeout_commit="100ms",
                                              create_empty_blocks=empty_blocks))
    return NodeHome(root)


@pytest.fixture
def node_home(tmp_path: Path) -> NodeHome:
    """A single-validator home that makes blocks only for txs (so the chain goes quiet)."""
    return make_home(tmp_path / "node", empty_blocks=False)


@pytest.fixture
def busy_node_home(tmp_path: Path) -> NodeHome:
    """A single-validator home that makes a block every ~100 ms, txs or not."""
    return make_home(tmp_path / "node", empty_blocks=True)


@pytest.fixture
def node(node_home: NodeHome) -> Iterator[NodeRunner]:
    """The node in ``node_home``, started; stopped (or killed) at teardown."""
    runner = NodeRunner(node_home)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop(timeout=10)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def module_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRunner]:
    """One node shared by a test module whose tests each leave the state as they found it."""
    runner = NodeRunner(make_home(tmp_path_factory.mktemp("shared") / "node",
                                  empty_blocks=False))
    runner.start()
    try:
        # CometBFT makes the first block on its own; tests start once it is committed.
        with runner.rpc() as rpc:
            rpc.wait_for_height(1, timeout=30)
        yield runner
    finally:
        runner.stop(timeout=10)
