"""Attach the node commands to a Typer app (the ``race`` root in governance/main.py)."""

from __future__ import annotations

import typer

from abci_app.cli import keys, localnet, node, query, tx


def register_node_commands(app: typer.Typer) -> None:
    """``init``, ``start``, ``status`` and the ``keys``, ``tx``, ``query``, ``localnet`` groups."""
    app.command("init")(node.init)
    app.command("start")(node.start)
    app.command("status")(node.status)
    app.add_typer(keys.app, name="keys")
    app.add_typer(tx.app, name="tx")
    app.add_typer(query.app, name="query")
    app.add_typer(localnet.app, name="localnet")
