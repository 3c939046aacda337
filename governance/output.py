"""How every node command prints: rich tables for people, one JSON document for scripts.

Errors go to stderr as one readable line (``Error: ...``) with exit status 1, or, with
``--output json``, as ``{"error": "..."}`` on stdout so scripts can parse either outcome.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from race_node.client.keyring import KeyringError
from race_node.client.rpc import RPCError
from race_node.localnet import LocalnetError
from race_node.localnet.spec import LocalnetSpecError
from race_node.node.genesis_params import GenesisParamsError
from race_node.node.home import NodeConfigError
from race_node.node.runner import NodeStartError

console = Console()
error_console = Console(stderr=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="text (tables) or json (one JSON document)",
                 case_sensitive=False),
]


class CommandError(Exception):
    """A user-facing failure: the message says what went wrong and what to do."""


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, output: OutputFormat = OutputFormat.text, **details: Any) -> NoReturn:
    if output is OutputFormat.json:
        print_json({"error": message, **details})
    else:
        error_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def user_errors(output: OutputFormat) -> Iterator[None]:
    """Turn the library's expected failures into a clean message and exit status 1."""
    try:
        yield
    except (CommandError, GenesisParamsError, KeyringError, LocalnetError, LocalnetSpecError,
            NodeConfigError, NodeStartError, RPCError, TimeoutError) as exc:
        fail(str(exc), output)


def key_value_table(title: str, rows: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


def rows_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def show(output: OutputFormat, document: Any, table: Table | None) -> None:
    """Print ``document`` as JSON, or ``table`` for people."""
    if output is OutputFormat.json or table is None:
        print_json(document)
    else:
        console.print(table)
