"""A real single-validator node (cometbft + our app) for the client and agent tests."""

from __future__ import annotations

import socket
from pathlib import Path

from race_node.node.home import NodeHome
from race_node.node.init import ConsensusTimings, init_single_node
from race_node.node.runner import NodeRunner

GENESIS_BALANCE_NICOIN = 1_000_000 * 10**9
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port the OS considers free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_node(root: Path, *, timeout_commit: str = "200ms", empty_blocks: bool = True,
               chain_id: str = "race-client") -> NodeRunner:
    """Initialise a home in ``root`` whose ``validator`` key is funded, and start it."""
    init_single_node(root, chain_id=chain_id, moniker="client-node", key_name="validator",
                     genesis_balance_nicoin=GENESIS_BALANCE_NICOIN, rpc_port=free_port(),
                     p2p_port=free_port(),
                     timings=ConsensusTimings(timeout_propose="500ms",
                                              timeout_commit=timeout_commit,
                                              create_empty_blocks=empty_blocks))
    runner = NodeRunner(NodeHome(root))
    runner.start()
    with runner.rpc() as rpc:
        rpc.wait_for_height(1, timeout=30)
    return runner
