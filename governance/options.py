"""Options shared by the node commands: the home directory and the node's RPC address."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from race_node.client.rpc import DEFAULT_RPC_URL, CometRPC
from race_node.node.home import DEFAULT_HOME, NodeHome

HomeOption = Annotated[
    Path,
    typer.Option("--home", envvar="RACE_HOME",
                 help="node home directory (config, chain data, keyring)"),
]
NodeOption = Annotated[
    str | None,
    typer.Option("--node", "-n", envvar="RACE_NODE",
                 help="CometBFT RPC address; default: the home's node, else "
                      f"{DEFAULT_RPC_URL}"),
]

DEFAULT_HOME_PATH = DEFAULT_HOME


def rpc_url_for(home: Path, node: str | None) -> str:
    """``--node`` if given, else the RPC address in the home's config, else the default."""
    if node:
        return node
    node_home = NodeHome(home)
    if node_home.is_initialized():
        return node_home.rpc_url()
    return os.environ.get("RACE_NODE", DEFAULT_RPC_URL)


def connect(home: Path, node: str | None, timeout: float = 10.0) -> CometRPC:
    return CometRPC(rpc_url_for(home, node), timeout=timeout)
