"""``race keys``: create, list, show, import, export and delete account keys."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.options import DEFAULT_HOME_PATH, HomeOption
from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    fail,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from race_node.client.keyring import Keyring
from race_node.node.home import NodeHome

app = typer.Typer(
    help="Manage account keys (ed25519) stored under HOME/keyring, one 0600 file per key.\n\n"
         "Examples:\n\n"
         "  race keys add alice\n\n"
         "  race keys list --output json\n\n"
         "  race keys show alice --address",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="key name (letters, digits, . _ -)")]


def _keyring(home) -> Keyring:
    return Keyring(NodeHome(home).keyring_dir)


@app.command("add")
def add(name: NameArgument, home: HomeOption = DEFAULT_HOME_PATH,
        output: OutputOption = OutputFormat.text) -> None:
    """Create a new random key NAME and print its address (never the private key).

    Example: race keys add alice --home ~/.race
    """
    with user_errors(output):
        info = _keyring(home).add(name)
    show(output, info.as_dict(), key_value_table(f"created key {name}", [
        ("name", info.name), ("address", info.address), ("public key", info.public_key_hex),
    ]))


@app.command("list")
def list_keys(home: HomeOption = DEFAULT_HOME_PATH,
              output: OutputOption = OutputFormat.text) -> None:
    """List every key's name and address.

    Example: race keys list --output json
    """
    with user_errors(output):
        keys = _keyring(home).list()
    if output is OutputFormat.text and not keys:
        console.print(f"no keys in {NodeHome(home).keyring_dir}; create one with "
                      "`race keys add NAME`")
        return
    show(output, [k.as_dict() for k in keys],
         rows_table("keys", ["name", "address"], [(k.name, k.address) for k in keys]))


@app.command("show")
def show_key(name: NameArgument, home: HomeOption = DEFAULT_HOME_PATH,
             address: Annotated[bool, typer.Option("--address", "-a",
                                                   help="print only the address")] = False,
             output: OutputOption = OutputFormat.text) -> None:
    """Show a key's address and public key.

    Example: race keys show alice -a
    """
    with user_errors(output):
        info = _keyring(home).show(name)
    if address and output is OutputFormat.text:
        typer.echo(info.address)
        return
    show(output, info.as_dict(), key_value_table(f"key {name}", [
        ("name", info.name), ("address", info.address), ("public key", info.public_key_hex),
    ]))


@app.command("import")
def import_key(name: NameArgument,
               private_key_hex: Annotated[str, typer.Option(
                   "--private-key-hex", prompt="ed25519 private key (64 hex digits)",
                   hide_input=True, help="32-byte private key in hex; prompted when omitted")],
               home: HomeOption = DEFAULT_HOME_PATH,
               output: OutputOption = OutputFormat.text) -> None:
    """Import an existing ed25519 private key as NAME.

    Example: race keys import bob   (prompts for the key without echoing it)
    """
    with user_errors(output):
        info = _keyring(home).import_hex(name, private_key_hex)
    show(output, info.as_dict(), key_value_table(f"imported key {name}", [
        ("name", info.name), ("address", info.address),
    ]))


@app.command("export")
def export_key(name: NameArgument,
               unsafe: Annotated[bool, typer.Option(
                   "--unsafe-export-private-key",
                   help="required: confirms you want the private key printed")] = False,
               home: HomeOption = DEFAULT_HOME_PATH,
               output: OutputOption = OutputFormat.text) -> None:
    """Print a key's PRIVATE key in hex. Anyone who sees it controls the account.

    Example: race keys export alice --unsafe-export-private-key
    """
    if not unsafe:
        fail("refusing to print a private key without --unsafe-export-private-key", output)
    with user_errors(output):
        keyring = _keyring(home)
        info = keyring.show(name)
        secret = keyring.export_private_key(name)
    if output is OutputFormat.json:
        show(output, {**info.as_dict(), "private_key": secret}, None)
    else:
        typer.echo(secret)


@app.command("delete")
def delete_key(name: NameArgument,
               yes: Annotated[bool, typer.Option("--yes", "-y",
                                                 help="do not ask for confirmation")] = False,
               home: HomeOption = DEFAULT_HOME_PATH,
               output: OutputOption = OutputFormat.text) -> None:
    """Delete a key file. Without a backup, its account's coins are lost.

    Example: race keys delete alice --yes
    """
    with user_errors(output):
        info = _keyring(home).show(name)
    if not yes and not typer.confirm(f"delete key {name} ({info.address})?"):
        fail("not deleted", output)
    with user_errors(output):
        _keyring(home).delete(name)
    show(output, {"deleted": info.as_dict()}, key_value_table(f"deleted key {name}", [
        ("address", info.address),
    ]))
