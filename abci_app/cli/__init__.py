"""The node half of the ``race`` command line: init, start, keys, tx, query, status, localnet.

``governance/main.py`` composes these commands with the governance and sidecar
sub-apps into the single ``race`` entry point; :func:`register_node_commands` attaches
them to a Typer app.
"""

from abci_app.cli.app import register_node_commands

__all__ = ["register_node_commands"]
