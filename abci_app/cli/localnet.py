"""``race localnet``: N validators on 127.0.0.1 for development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abci_app.cli.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from abci_app.localnet import Localnet, LocalnetSpec, NodeStatus
from abci_app.node.runner import run_until_signalled, sigterm_as_interrupt

DEFAULT_DIR = Path("localnet/.data")

app = typer.Typer(
    help="Run a local network of validators on 127.0.0.1 (each: cometbft + the ABCI app).\n\n"
         "Examples:\n\n"
         "  race localnet init --validators 4 --dir /tmp/net\n\n"
         "  race localnet start --dir /tmp/net\n\n"
         "  race localnet status --dir /tmp/net --output json\n\n"
         "  race localnet stop --dir /tmp/net",
    no_args_is_help=True,
)

DirOption = Annotated[Path, typer.Option("--dir", "-d", envvar="RACE_LOCALNET_DIR",
                                         help="the localnet's directory")]
NodeIndexOption = Annotated[list[int] | None, typer.Option(
    "--node", help="only this validator index (repeatable); default: all")]


def _status_table(statuses: list[NodeStatus]):
    return rows_table("localnet", ["node", "running", "height", "app hash", "peers", "rpc"], [
        (s.name, "yes" if s.running else ("partly" if s.app_running or s.cometbft_running
                                          else "no"),
         s.height, (s.app_hash or "")[:16], s.peers, s.rpc) for s in statuses
    ])


@app.command("init")
def init(
    validators: Annotated[int | None, typer.Option("--validators", "-v",
                                                   help="number of validators")] = None,
    directory: DirOption = DEFAULT_DIR,
    config: Annotated[Path | None, typer.Option(
        help="TOML file whose localnet table sets the defaults (see localnet/localnet.toml)")] =
        None,
    chain_id: Annotated[str | None, typer.Option(help="chain id")] = None,
    base_port: Annotated[int | None, typer.Option(
        help="first port; validator i uses base+10i (p2p) and base+10i+1 (rpc)")] = None,
    timeout_commit: Annotated[str | None, typer.Option(help="Go duration, e.g. 200ms")] = None,
    timeout_propose: Annotated[str | None, typer.Option(help="Go duration, e.g. 500ms")] = None,
    empty_blocks: Annotated[bool | None, typer.Option(
        "--empty-blocks/--no-empty-blocks", help="make blocks without txs")] = None,
    overwrite: Annotated[bool, typer.Option(help="delete an existing localnet in DIR")] = False,
    if_missing: Annotated[bool, typer.Option(
        help="do nothing when DIR already holds a localnet")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create N validator homes with one genesis, wired as peers on 127.0.0.1.

    Each validator's keyring holds a funded key named `validator`.

    Example: race localnet init --validators 4 --dir /tmp/net --timeout-commit 200ms
    """
    with user_errors(output):
        net = Localnet(directory)
        if if_missing and net.exists():
            created = False
        else:
            spec = LocalnetSpec.from_toml(config) if config else LocalnetSpec()
            spec = spec.with_overrides(
                validators=validators, chain_id=chain_id, base_port=base_port,
                timeout_commit=timeout_commit, timeout_propose=timeout_propose,
                create_empty_blocks=empty_blocks,
            )
            if output is OutputFormat.text:
                with console.status(f"creating {spec.validators} validators…"):
                    net = Localnet.create(directory, spec, overwrite=overwrite)
            else:
                net = Localnet.create(directory, spec, overwrite=overwrite)
            created = True
        manifest = net.manifest()
    document = {"dir": str(net.directory), "created": created, **manifest}
    show(output, document, rows_table(
        f"localnet {manifest['chain_id']} in {net.directory}"
        + ("" if created else " (existing)"),
        ["node", "rpc", "p2p port", "validator account"],
        [(n["name"], n["rpc"], n["p2p_port"], n["account"]) for n in manifest["nodes"]],
    ))


@app.command("start")
def start(
    directory: DirOption = DEFAULT_DIR,
    node: NodeIndexOption = None,
    foreground: Annotated[bool, typer.Option(
        help="stay in the foreground and stop every node on Ctrl-C/SIGTERM")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Start the validators in the background (pid files in each node's run/ directory).

    Examples:

      race localnet start --dir /tmp/net

      race localnet start --dir /tmp/net --node 2        (restart one stopped validator)

      race localnet start --dir /tmp/net --foreground    (what `make run` does)
    """
    if not foreground:
        with user_errors(output):
            net = Localnet(directory)
            net.manifest()
            if output is OutputFormat.text:
                with console.status("starting validators (app, then cometbft)…"):
                    net.start(node)
            else:
                net.start(node)
            statuses = net.status()
        show(output, {"dir": str(net.directory), "nodes": [s.as_dict() for s in statuses]},
             _status_table(statuses))
        return
    with user_errors(output):
        net = Localnet(directory)
        indices = node if node is not None else list(range(net.size))

    def report() -> None:
        parts = [f"{s.name}:{s.height if s.height is not None else '-'}"
                 for s in net.status()]
        console.print("heights " + "  ".join(parts), highlight=False)

    try:
        with sigterm_as_interrupt():
            with user_errors(output), console.status("starting validators…"):
                net.start(indices)
            console.print(_status_table(net.status()))
            console.print(f"[green]localnet running[/green] (logs in {net.directory}/node*/logs)"
                          "; Ctrl-C stops it")
            code = run_until_signalled([net.runner(i) for i in indices], report, 5.0)
    except KeyboardInterrupt:
        net.stop(indices)
        code = 0
    console.print("localnet stopped" if code == 0 else "[red]localnet stopped after a "
                                                        "failure[/red]")
    raise typer.Exit(code)


@app.command("stop")
def stop(directory: DirOption = DEFAULT_DIR, node: NodeIndexOption = None,
         output: OutputOption = OutputFormat.text) -> None:
    """Stop the validators cleanly (cometbft first, then its app).

    Example: race localnet stop --dir /tmp/net
    """
    with user_errors(output):
        net = Localnet(directory)
        net.manifest()
        net.stop(node)
        statuses = net.status(query_rpc=False)
    show(output, {"dir": str(net.directory), "nodes": [s.as_dict() for s in statuses]},
         _status_table(statuses))


@app.command("status")
def status(directory: DirOption = DEFAULT_DIR, output: OutputOption = OutputFormat.text) -> None:
    """Show each validator: running or not, height, app hash, peers.

    Example: race localnet status --dir /tmp/net --output json
    """
    with user_errors(output):
        net = Localnet(directory)
        manifest = net.manifest()
        statuses = net.status()
    if output is OutputFormat.json:
        show(output, {"dir": str(net.directory), "chain_id": manifest["chain_id"],
                      "nodes": [s.as_dict() for s in statuses]}, None)
        return
    console.print(key_value_table("localnet", [("dir", net.directory),
                                               ("chain id", manifest["chain_id"])]))
    console.print(_status_table(statuses))
