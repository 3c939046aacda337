"""What the ``gov``, ``price`` and ``models`` commands share: signing a message with a keyring
key, broadcasting it and reporting the chain's verdict (through the client library's one
broadcast path), and reading ``race.v1.Query`` answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf.message import Message

from governance import lookups
from governance.options import connect
from governance.output import (
    CommandError,
    OutputFormat,
    error_console,
    fail,
    key_value_table,
    show,
    user_errors,
)
from governance.tx_cli import broadcaster_for, submit, wait_for_commit
from race_node.client.keyring import Keyring
from race_node.client.queries import (
    MAX_PAGES,
    PAGED_METHODS,
    ChainQueries,
    QueryFailed,
    to_json,
)
from race_node.client.rpc import CometRPC
from race_node.node.home import NodeHome

FromOption = Annotated[str, typer.Option("--from", "-f", help="keyring key that signs (and "
                                                             "pays the fee)")]
FeeOption = Annotated[str | None, typer.Option(help="fee, e.g. 1000nicoin; default: the "
                                                    "chain's minimum fee")]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait",
                                          help="wait until the tx is in a committed block")]
TimeoutOption = Annotated[float, typer.Option(help="seconds to wait for the commit")]
# Listings: every list command reads the whole listing, page after page (at most MAX_PAGES
# pages), into one answer; --limit stops it sooner.
LimitOption = Annotated[int, typer.Option(
    "--limit", min=0, help="read at most this many entries (0: all); when more remain, "
                           "stderr says so")]


@contextmanager
def command_errors(output: OutputFormat) -> Iterator[None]:
    """The node CLI's readable errors, plus refused queries (their code and log)."""
    with user_errors(output):
        try:
            yield
        except QueryFailed as failure:
            if failure.unreachable:
                raise CommandError(failure.log) from failure
            raise CommandError(f"the chain refused the query (code {failure.code}): "
                               f"{failure.log}") from failure


def query(home: Path, node: str | None, method: str, request: Message | None = None,
          limit: int = 0) -> Message:
    """One ``race.v1.Query`` answer from the node (the same the gateways give).

    A listing (a paged method) is read page after page into one answer: at most ``limit``
    entries (0: all, up to ``MAX_PAGES`` pages). When entries remain, stderr says so; the
    answer's ``pagination.next_key``, where it has one, is where the rest starts.
    """
    with connect(home, node) as rpc:
        queries = ChainQueries(rpc)
        if method not in PAGED_METHODS:
            return queries.call(method, request)
        answer, next_key = queries.call_all(method, request, limit)
    if next_key:
        read = f"the first {limit}" if limit else f"{MAX_PAGES} pages of"
        error_console.print(f"Note: read {read} entries; more remain (from page key "
                            f"{next_key!r}); raise --limit to read them", highlight=False,
                            markup=False)
    return answer


def limited(limit: int) -> dict[str, int]:
    """:func:`query`'s keywords for a command's ``--limit``: none for 0 (every entry)."""
    return {"limit": limit} if limit else {}


def as_json(message: Message) -> dict[str, Any]:
    """The canonical JSON the REST gateway returns for the same answer."""
    return to_json(message)


def resolve_address(home: Path, name_or_address: str) -> str:
    """A key name from the home's keyring, or a race1... address."""
    return Keyring(NodeHome(home).keyring_dir).resolve_address(name_or_address)


def event_attribute(events: list[dict[str, Any]], event_type: str, key: str) -> str | None:
    """An attribute of the first event of ``event_type`` in a committed tx's events."""
    for event in events:
        if event.get("type") != event_type:
            continue
        for attribute in event.get("attributes") or []:
            if attribute.get("key") == key:
                return str(attribute.get("value"))
    return None


def sign_and_send(
    *,
    home: Path,
    node: str | None,
    from_key: str,
    build: Callable[[str, CometRPC], list[Message]],
    fee: str | None,
    wait: bool,
    timeout: float,
    output: OutputFormat,
    summary: dict[str, Any],
    report_events: tuple[tuple[str, str, str], ...] = (),
) -> None:
    """Sign the messages ``build(signer_address, rpc)`` returns, broadcast, and report.

    ``report_events`` lists (event type, attribute, label) to lift from the committed tx into
    the report, e.g. the new proposal's id. Exits 1 with the chain's code and log when the
    tx is refused at CheckTx or in its block.
    """
    keyring = Keyring(NodeHome(home).keyring_dir)
    signer = keyring.show(from_key)
    fee_nicoin = None if fee is None else lookups.parse_amount_nicoin(fee, "fee")
    with connect(home, node) as rpc:
        broadcaster = broadcaster_for(rpc, keyring, from_key, fee_nicoin)
        messages = build(signer.address, rpc)
        submission = submit(broadcaster, messages)
        checked = submission.check
        document: dict[str, Any] = {**summary, "signer": signer.address, "hash": checked.hash,
                                    "code": checked.code, "log": checked.log,
                                    "codespace": checked.codespace}
        if not checked.ok:
            fail(f"the node refused the tx (code {checked.code}, {checked.codespace}): "
                 f"{checked.log}", output, **document)
        if not wait:
            show(output, document, key_value_table("transaction (not yet committed)",
                                                   list(document.items())))
            return
        committed = wait_for_commit(broadcaster, submission, timeout, output).committed
    assert committed is not None
    document.update(height=committed.height, code=committed.code, log=committed.log,
                    codespace=committed.codespace)
    if not committed.ok:
        fail(f"the tx was refused in block {committed.height} (code {committed.code}, "
             f"{committed.codespace}): {committed.log}", output, **document)
    for event_type, key, label in report_events:
        value = event_attribute(committed.events, event_type, key)
        if value is not None:
            document[label] = value
    show(output, document, key_value_table("transaction", list(document.items())))
