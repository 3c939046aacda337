"""``race init``, ``race start`` and ``race status``: one node on this machine."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from governance import lookups
from governance.lookups import parse_amount_nicoin
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption, connect
from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    show,
    user_errors,
)
from race_node.client.rpc import CometRPC, RPCError
from race_node.node.genesis_params import parse_param_assignments
from race_node.node.home import NodeHome
from race_node.node.init import ConsensusTimings, init_single_node
from race_node.node.runner import NodeRunner, run_until_signalled, sigterm_as_interrupt


def init(
    chain_id: Annotated[str, typer.Option(help="the chain's id")] = "race-local",
    moniker: Annotated[str | None, typer.Option(help="node name; default: the host name")] = None,
    key_name: Annotated[str, typer.Option("--key", help="keyring key funded at genesis")] =
        "validator",
    genesis_balance: Annotated[str, typer.Option(help="that key's genesis balance")] =
        "1000000icoin",
    rpc_port: Annotated[int, typer.Option(help="CometBFT RPC port (127.0.0.1)")] = 26657,
    p2p_port: Annotated[int, typer.Option(help="CometBFT p2p port (127.0.0.1)")] = 26656,
    app_address: Annotated[str | None, typer.Option(
        help="ABCI address; default unix://HOME/app.sock")] = None,
    timeout_commit: Annotated[str, typer.Option(help="CometBFT timeout_commit "
                                                     "(Go duration)")] = "1s",
    empty_blocks: Annotated[bool, typer.Option("--empty-blocks/--no-empty-blocks",
                                               help="make blocks without txs")] = True,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", metavar="MODULE.KEY=VALUE",
        help="a genesis module param (repeatable), e.g. epochs.epoch_length_blocks=20")] =
        None,
    overwrite: Annotated[bool, typer.Option(help="delete an existing node in HOME first")] =
        False,
    home: HomeOption = DEFAULT_HOME_PATH,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create a single-validator chain in HOME: CometBFT keys and config, genesis, a funded key.

    Examples:

      race init --home ~/.race

      race init --home /tmp/n1 --chain-id dev-1 --timeout-commit 200ms --output json

      race init --home /tmp/n1 --param epochs.epoch_length_blocks=20
        --param gov.voting_period_blocks=30
    """
    with user_errors(output):
        balance = parse_amount_nicoin(genesis_balance, "genesis balance")
        params = parse_param_assignments(param or [])
        summary = init_single_node(
            home, chain_id=chain_id, moniker=moniker or socket.gethostname(),
            key_name=key_name, genesis_balance_nicoin=balance, rpc_port=rpc_port,
            p2p_port=p2p_port, app_address=app_address,
            timings=ConsensusTimings(timeout_commit=timeout_commit,
                                     create_empty_blocks=empty_blocks),
            overwrite=overwrite, params=params,
        )
    param_rows = [(f"genesis param {module}.{key}", value)
                  for module, table in sorted(summary["params"].items())
                  for key, value in sorted(table.items())]
    show(output, summary, key_value_table("node initialised", [
        ("home", summary["home"]), ("chain id", summary["chain_id"]),
        ("node id", summary["node_id"]), ("rpc", summary["rpc"]),
        ("app address", summary["app_address"]),
        ("funded key", f"{key_name} {summary['key']['address']}"),
        ("genesis balance", lookups.format_nicoin(balance)),
        *param_rows,
        ("next", f"race start --home {summary['home']}"),
    ]))


def start(home: HomeOption = DEFAULT_HOME_PATH,
          quiet: Annotated[bool, typer.Option(help="no height updates while running")] = False,
          ) -> None:
    """Run the node (ABCI app + cometbft) in the foreground; Ctrl-C or SIGTERM stops both.

    Logs go to HOME/logs/app.log and HOME/logs/cometbft.log.

    Example: race start --home ~/.race
    """
    with user_errors(OutputFormat.text):
        runner = NodeRunner(NodeHome(home))
    rpc = CometRPC(runner.home.rpc_url(), timeout=2.0)

    def report_height() -> None:
        sync = rpc.status()["sync_info"]
        console.print(f"height {sync['latest_block_height']}  app hash "
                      f"{sync['latest_app_hash'][:16]}…", highlight=False)

    try:
        with sigterm_as_interrupt():
            with user_errors(OutputFormat.text):
                runner.start()
            console.print(f"[green]node running[/green]: rpc {rpc.url}, logs in "
                          f"{runner.home.logs_dir} (Ctrl-C to stop)")
            status = run_until_signalled([runner], None if quiet else report_height, 5.0)
    except KeyboardInterrupt:
        runner.stop()
        status = 0
    finally:
        rpc.close()
    console.print("node stopped" if status == 0 else "[red]node stopped after a failure[/red]")
    raise typer.Exit(status)


def status(home: HomeOption = DEFAULT_HOME_PATH, node: NodeOption = None,
           output: OutputOption = OutputFormat.text) -> None:
    """Show the node's chain id, height, app hash, sync state and validator power.

    Example: race status --node http://127.0.0.1:26657 --output json
    """
    with user_errors(output), connect(home, node, timeout=5.0) as rpc:
        node_status = rpc.status()
        app_info = rpc.abci_info()
        try:
            peers = int(rpc.net_info()["n_peers"])
        except RPCError:
            peers = None
    info, sync = node_status["node_info"], node_status["sync_info"]
    document = {
        "node": rpc.url,
        "chain_id": info["network"],
        "moniker": info["moniker"],
        "node_id": info["id"],
        "cometbft_version": info["version"],
        "latest_block_height": int(sync["latest_block_height"]),
        "latest_block_time": sync["latest_block_time"],
        "latest_app_hash": sync["latest_app_hash"],
        "catching_up": bool(sync["catching_up"]),
        "app_last_block_height": app_info["last_block_height"],
        "app_last_block_app_hash": app_info["last_block_app_hash"],
        "app_version": app_info["version"],
        "voting_power": int(node_status["validator_info"]["voting_power"]),
        "peers": peers,
    }
    show(output, document, key_value_table("node status", list(document.items())))
