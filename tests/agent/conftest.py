"""Fixtures for the agent's tests: a fresh real node per test, and agents that are
always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from race_node.client.keyring import Keyring
from race_node.node.runner import NodeRunner
from tests.agent.agent_process import AgentProcess
from tests.client.live_node import start_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeRunner]:
    """A single-validator node making a block every few tenths of a second."""
    runner = start_node(tmp_path / "node", chain_id="race-agent")
    try:
        yield runner
    finally:
        runner.stop(timeout=10)


@pytest.fixture
def operator(node: NodeRunner) -> str:
    return Keyring(node.home.keyring_dir).show("validator").address


@pytest.fixture
def agents(node: NodeRunner, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``agents(*args)``: a not yet started agent of the node's home."""
    made: list[AgentProcess] = []

    def make(*args: str) -> AgentProcess:
        agent = AgentProcess(node.home.root, tmp_path / f"agent{len(made)}.log", *args)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.ensure_stopped()
