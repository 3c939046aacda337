"""Fixtures for the client library's tests: a real node, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from race_node.node.runner import NodeRunner
from tests.client.live_node import start_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRunner]:
    """A node that makes a block about every 0.7 s, txs or not."""
    runner = start_node(tmp_path_factory.mktemp("client") / "node", timeout_commit="500ms")
    try:
        yield runner
    finally:
        runner.stop(timeout=10)
