"""``race localnet``: N validators on 127.0.0.1 for development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from race_node.localnet import GatewayStatus, Localnet, LocalnetSpec, NodeStatus
from race_node.node.genesis_params import merge_params, parse_param_assignments
from race_node.node.runner import run_until_signalled, sigterm_as_interrupt

DEFAULT_DIR = Path("localnet/.data")

app = typer.Typer(
    help="Run a local network of validators on 127.0.0.1 (each: cometbft + the ABCI app).\n\n"
         "Examples:\n\n"
         "  race localnet init --validators 4 --dir /tmp/net\n\n"
         "  race localnet init --dir /tmp/net --param epochs.epoch_length_blocks=20\n\n"
         "  race localnet start --dir /tmp/net\n\n"
         "  race localnet status --dir /tmp/net --output json\n\n"
         "  race localnet stop --dir /tmp/net",
    no_args_is_help=True,
)

DirOption = Annotated[Path, typer.Option("--dir", "-d", envvar="RACE_LOCALNET_DIR",
                                         help="the localnet's directory")]
NodeIndexOption = Annotated[list[int] | None, typer.Option(
    "--node", help="only this validator index (repeatable); default: all (and the gateway)")]
ParamOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", metavar="MODULE.KEY=VALUE",
    help="a genesis module param (repeatable), e.g. gov.voting_period_blocks=30; "
         "overrides the config file's [params.<module>] tables")]


def _status_table(statuses: list[NodeStatus]):
    return rows_table("localnet", ["node", "running", "height", "app hash", "peers", "rpc"], [
        (s.name, "yes" if s.running else ("partly" if s.app_running or s.cometbft_running
                                          else "no"),
         s.height, (s.app_hash or "")[:16], s.peers, s.rpc) for s in statuses
    ])


def _gateway_line(gateway: GatewayStatus) -> str:
    if not gateway.enabled:
        return ("gateway: none (this localnet was created without one: --no-gateway, or "
                "before localnets had one; `race gateway serve --node URL` serves one by hand)")
    state = "[green]running[/green]" if gateway.running else "[yellow]stopped[/yellow]"
    return (f"gateway: {state}  REST {gateway.rest}  gRPC {gateway.grpc}  "
            f"(in front of {gateway.node})")


def _params_rows(params: dict) -> list[tuple[str, object]]:
    return [(f"{module}.{key}", value) for module, table in sorted(params.items())
            for key, value in sorted(table.items())]


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
    param: ParamOption = None,
    gateway: Annotated[bool | None, typer.Option(
        "--gateway/--no-gateway",
        help="give the localnet a REST + gRPC gateway in front of node0 (ports base+3, "
             "base+4); default: on")] = None,
    overwrite: Annotated[bool, typer.Option(help="delete an existing localnet in DIR")] = False,
    if_missing: Annotated[bool, typer.Option(
        help="do nothing when DIR already holds a localnet")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create N validator homes with one genesis, wired as peers on 127.0.0.1.

    Each validator's keyring holds a funded key named `validator`. Module params for
    genesis come from the config file's [params.<module>] tables and --param (which wins);
    they are checked before anything is written.

    Examples:

      race localnet init --validators 4 --dir /tmp/net --timeout-commit 200ms

      race localnet init --config localnet/localnet.toml --dir /tmp/net
        --param epochs.epoch_length_blocks=10 --param gov.voting_period_blocks=30
    """
    with user_errors(output):
        overrides = parse_param_assignments(param or [])
        net = Localnet(directory)
        if if_missing and net.exists():
            created = False
        else:
            spec = LocalnetSpec.from_toml(config) if config else LocalnetSpec()
            spec = spec.with_overrides(
                validators=validators, chain_id=chain_id, base_port=base_port,
                timeout_commit=timeout_commit, timeout_propose=timeout_propose,
                create_empty_blocks=empty_blocks, gateway=gateway,
                params=merge_params(spec.params, overrides),
            )
            if output is OutputFormat.text:
                with console.status(f"creating {spec.validators} validators…"):
                    net = Localnet.create(directory, spec, overwrite=overwrite)
            else:
                net = Localnet.create(directory, spec, overwrite=overwrite)
            created = True
        manifest = net.manifest()
        gateway_status = net.gateway_status()
    document = {"dir": str(net.directory), "created": created, **manifest}
    show(output, document, rows_table(
        f"localnet {manifest['chain_id']} in {net.directory}"
        + ("" if created else " (existing)"),
        ["node", "rpc", "p2p port", "validator account"],
        [(n["name"], n["rpc"], n["p2p_port"], n["account"]) for n in manifest["nodes"]],
    ))
    if output is OutputFormat.text:
        if not created and param:
            console.print("[yellow]--param ignored[/yellow]: this localnet's genesis is kept "
                          "(--overwrite re-creates it; `race gov propose param` changes a "
                          "running chain)", highlight=False)
        params = manifest["spec"].get("params") or {}
        if params:
            console.print(key_value_table("genesis params (others: defaults)",
                                          _params_rows(params)))
        console.print(_gateway_line(gateway_status), highlight=False)


@app.command("start")
def start(
    directory: DirOption = DEFAULT_DIR,
    node: NodeIndexOption = None,
    foreground: Annotated[bool, typer.Option(
        help="stay in the foreground and stop every node on Ctrl-C/SIGTERM")] = False,
    gateway: Annotated[bool, typer.Option(
        "--gateway/--no-gateway",
        help="also start the localnet's REST + gRPC gateway (when starting every "
             "validator and the localnet has one)")] = True,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Start the validators, then the gateway, in the background (pid files, logs in DIR).

    Examples:

      race localnet start --dir /tmp/net

      race localnet start --dir /tmp/net --node 2        (restart one stopped validator)

      race localnet start --dir /tmp/net --no-gateway    (validators only)

      race localnet start --dir /tmp/net --foreground    (what `make run` does)
    """
    with_gateway = gateway and node is None
    if not foreground:
        with user_errors(output):
            net = Localnet(directory)
            net.manifest()
            if output is OutputFormat.text:
                with console.status("starting validators (app, then cometbft)…"):
                    net.start(node, gateway=with_gateway)
            else:
                net.start(node, gateway=with_gateway)
            statuses = net.status()
            gateway_status = net.gateway_status()
        show(output, {"dir": str(net.directory), "nodes": [s.as_dict() for s in statuses],
                      "gateway": gateway_status.as_dict()}, _status_table(statuses))
        if output is OutputFormat.text:
            console.print(_gateway_line(gateway_status), highlight=False)
        return
    with user_errors(output):
        net = Localnet(directory)
        indices = node if node is not None else list(range(net.size))
    warned = False

    def report() -> None:
        nonlocal warned
        parts = [f"{s.name}:{s.height if s.height is not None else '-'}"
                 for s in net.status()]
        console.print("heights " + "  ".join(parts), highlight=False)
        process = net.gateway_process()
        if with_gateway and process is not None and not process.running() and not warned:
            warned = True
            console.print(f"[yellow]the gateway stopped[/yellow]; last lines of "
                          f"{process.log_path}:\n{process.log_tail()}", highlight=False)

    try:
        with sigterm_as_interrupt():
            with user_errors(output), console.status("starting validators…"):
                net.start(indices, gateway=with_gateway)
            console.print(_status_table(net.status()))
            console.print(_gateway_line(net.gateway_status()), highlight=False)
            console.print(f"[green]localnet running[/green] (logs in {net.directory}/node*/logs)"
                          "; Ctrl-C stops it")
            try:
                code = run_until_signalled([net.runner(i) for i in indices], report, 5.0)
            finally:
                if with_gateway:
                    net.stop_gateway()
    except KeyboardInterrupt:
        net.stop(indices)
        if with_gateway:
            net.stop_gateway()
        code = 0
    console.print("localnet stopped" if code == 0 else "[red]localnet stopped after a "
                                                        "failure[/red]")
    raise typer.Exit(code)


@app.command("stop")
def stop(directory: DirOption = DEFAULT_DIR, node: NodeIndexOption = None,
         output: OutputOption = OutputFormat.text) -> None:
    """Stop the gateway and the validators cleanly (cometbft first, then its app).

    With --node only those validators stop; the gateway keeps running.

    Example: race localnet stop --dir /tmp/net
    """
    with user_errors(output):
        net = Localnet(directory)
        net.manifest()
        net.stop(node)
        statuses = net.status(query_rpc=False)
        gateway_status = net.gateway_status()
    show(output, {"dir": str(net.directory), "nodes": [s.as_dict() for s in statuses],
                  "gateway": gateway_status.as_dict()}, _status_table(statuses))
    if output is OutputFormat.text:
        console.print(_gateway_line(gateway_status), highlight=False)


@app.command("status")
def status(directory: DirOption = DEFAULT_DIR, output: OutputOption = OutputFormat.text) -> None:
    """Show each validator (running or not, height, app hash, peers) and the gateway.

    Example: race localnet status --dir /tmp/net --output json
    """
    with user_errors(output):
        net = Localnet(directory)
        manifest = net.manifest()
        statuses = net.status()
        gateway_status = net.gateway_status()
    if output is OutputFormat.json:
        show(output, {"dir": str(net.directory), "chain_id": manifest["chain_id"],
                      "nodes": [s.as_dict() for s in statuses],
                      "gateway": gateway_status.as_dict()}, None)
        return
    console.print(key_value_table("localnet", [("dir", net.directory),
                                               ("chain id", manifest["chain_id"])]))
    console.print(_status_table(statuses))
    console.print(_gateway_line(gateway_status), highlight=False)
