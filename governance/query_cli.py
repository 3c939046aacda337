"""``race query``: balances, accounts and committed transactions."""

from __future__ import annotations

from typing import Annotated

import typer

from governance import lookups
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption, connect
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from race_node.client.keyring import Keyring
from race_node.node.home import NodeHome

app = typer.Typer(
    help="Read chain state from a node.\n\n"
         "Examples:\n\n"
         "  race query balance race1qy...x5\n\n"
         "  race query tx 3BA8...F88A --output json",
    no_args_is_help=True,
)

AddressArgument = Annotated[str, typer.Argument(help="a race1... address or a key name")]


@app.command("balance")
def balance(address: AddressArgument, home: HomeOption = DEFAULT_HOME_PATH,
            node: NodeOption = None, output: OutputOption = OutputFormat.text) -> None:
    """Show an account's balance.

    Example: race query balance alice --home ~/.race
    """
    with user_errors(output):
        resolved = Keyring(NodeHome(home).keyring_dir).resolve_address(address)
        with connect(home, node) as rpc:
            answer = lookups.query_json(rpc, f"/bank/balance/{resolved}")
    nicoin = int(answer["amount"])
    document = {"address": resolved, "amount_nicoin": str(nicoin),
                "display": lookups.format_nicoin(nicoin)}
    show(output, document, key_value_table("balance", [
        ("address", resolved), ("balance", document["display"]), ("nicoin", nicoin),
    ]))


@app.command("account")
def account(address: AddressArgument, home: HomeOption = DEFAULT_HOME_PATH,
            node: NodeOption = None, output: OutputOption = OutputFormat.text) -> None:
    """Show an account's sequence and public key.

    Example: race query account race1qy...x5 --output json
    """
    with user_errors(output):
        resolved = Keyring(NodeHome(home).keyring_dir).resolve_address(address)
        with connect(home, node) as rpc:
            found = lookups.account(rpc, resolved)
        if found is None:
            raise CommandError(f"account {resolved} does not exist on chain yet (it has "
                               "never received coins)")
    show(output, found, key_value_table("account", list(found.items())))


@app.command("tx")
def tx(hash_hex: Annotated[str, typer.Argument(metavar="HASH", help="tx hash (64 hex digits)")],
       home: HomeOption = DEFAULT_HOME_PATH, node: NodeOption = None,
       output: OutputOption = OutputFormat.text) -> None:
    """Show a committed tx: height, result code, log and events.

    Example: race query tx 3BA8907E7A252327488DF390ED517C45B96DEAD033600219BDCA7107D1D3F88A
    """
    with user_errors(output):
        with connect(home, node) as rpc:
            try:
                found = rpc.tx(hash_hex)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        if found is None:
            raise CommandError(f"no committed tx with hash {hash_hex.upper()} on this node "
                               "(it may still be in the mempool, or was rejected)")
    document = {"hash": found.hash, "height": found.height, "index": found.index,
                "code": found.code, "codespace": found.codespace, "log": found.log,
                "events": found.events}
    if output is OutputFormat.json:
        show(output, document, None)
        return
    show(output, document, key_value_table("transaction", [
        ("hash", found.hash), ("height", found.height), ("code", found.code),
        ("codespace", found.codespace), ("log", found.log),
    ]))
    event_rows = [(event.get("type", ""), attr.get("key", ""), attr.get("value", ""))
                  for event in found.events for attr in event.get("attributes") or []]
    if event_rows:
        show(output, document, rows_table("events", ["event", "key", "value"], event_rows))
