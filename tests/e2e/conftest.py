"""Fixtures for the multi-validator localnet tests (real cometbft + app per validator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from race_node.localnet import Localnet
from race_node.node.home import NodeConfigError, find_cometbft


@pytest.fixture(scope="session", autouse=True)
def _cometbft_available() -> None:
    try:
        find_cometbft()
    except NodeConfigError as exc:
        pytest.fail(f"end-to-end tests need cometbft: {exc}")


@pytest.fixture
def localnet_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for a localnet; whatever runs from it is stopped at teardown."""
    directory = tmp_path / "net"
    yield directory
    net = Localnet(directory)
    if net.exists():
        net.stop(timeout=10)
