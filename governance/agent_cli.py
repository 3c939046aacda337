"""``race agent``: run the node agent (a provider's off-chain daemon) and read its status."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption, rpc_url_for
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    fail,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from race_node.agent import AgentConfig, AgentError
from race_node.agent.config import DEFAULT_HEARTBEAT_EVERY, DEFAULT_STATUS_ADDRESS, AgentConfigError
from race_node.agent.runner import run_agent

app = typer.Typer(
    help="The node agent: follows the chain, runs the provider's duties, signs and submits "
         "their txs, and drives the GPU sidecar.\n\n"
         "Examples:\n\n"
         "  race agent start --home ~/.race --sidecar 127.0.0.1:50551\n\n"
         "  race agent status --output json",
    no_args_is_help=True,
)

StatusAddressOption = Annotated[str, typer.Option(
    "--status-address", help="HOST:PORT of the agent's status endpoint")]


def sidecar_token(token_env: str, token_file: Path | None) -> str | None:
    """The sidecar's bearer token: from --sidecar-token-file, else from $TOKEN_ENV."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read --sidecar-token-file {token_file}: "
                               f"{exc.strerror or exc}") from exc
        if not token:
            raise CommandError(f"--sidecar-token-file {token_file} is empty")
        return token
    return os.environ.get(token_env) or None


@app.command("start")
def start(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    key: Annotated[str, typer.Option(help="keyring key of the node operator (signs txs)")] =
        "validator",
    sidecar: Annotated[str | None, typer.Option(
        help="the GPU sidecar's HOST:PORT; without it the agent runs without one")] = None,
    sidecar_token_env: Annotated[str, typer.Option(
        help="environment variable holding the sidecar's bearer token")] =
        "RACE_SIDECAR_TOKEN",
    sidecar_token_file: Annotated[Path | None, typer.Option(
        help="file holding the sidecar's bearer token (instead of the variable)")] = None,
    sidecar_ca: Annotated[Path | None, typer.Option(
        help="CA (PEM) of the sidecar's TLS certificate: talk TLS to it (required when "
             "--sidecar is not on loopback)")] = None,
    sidecar_health_interval: Annotated[float, typer.Option(
        help="seconds between sidecar health checks", min=0.1)] = 5.0,
    heartbeat_every: Annotated[int, typer.Option(
        help="send a heartbeat tx every N blocks (0: never)", min=0)] =
        DEFAULT_HEARTBEAT_EVERY,
    status_address: StatusAddressOption = DEFAULT_STATUS_ADDRESS,
    allow_remote_status: Annotated[bool, typer.Option(
        help="allow a non-loopback --status-address (the endpoint has no authentication)")] =
        False,
    executor_address: Annotated[str | None, typer.Option(
        help="HOST:PORT to serve the executor endpoint relays call (needs --sidecar); "
             "without it the node executes no inference")] = None,
    executor_endpoint: Annotated[str | None, typer.Option(
        help="HOST:PORT relays should dial, registered on chain (default: "
             "--executor-address)")] = None,
    settle_every: Annotated[int, typer.Option(
        help="settle executed tickets every N blocks", min=1)] = 3,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run the agent until SIGTERM or Ctrl-C (then it finishes the current height, exit 0).

    It resumes from its cursor in HOME/agent/ and runs its duties for every new height.

    Its status is served at GET /status and GET /healthz on --status-address.

    Examples:

      race agent start --home ~/.race

      race agent start --home /tmp/net/node0 --sidecar 127.0.0.1:50551 --heartbeat-every 5

      RACE_SIDECAR_TOKEN=s3cret race agent start --sidecar gpu1.example:50551 --sidecar-ca ca.pem

      race agent start --sidecar 127.0.0.1:50551 --executor-address 127.0.0.1:26698
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per RPC call drowns the agent's own log; keep the client's warnings only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    with user_errors(OutputFormat.text):
        try:
            config = AgentConfig(
                home=home, rpc_url=rpc_url_for(home, node), key_name=key,
                sidecar_address=sidecar,
                sidecar_token=sidecar_token(sidecar_token_env, sidecar_token_file),
                sidecar_ca=sidecar_ca,
                status_address=status_address, allow_remote_status=allow_remote_status,
                heartbeat_every=heartbeat_every,
                sidecar_health_interval_s=sidecar_health_interval,
                executor_address=executor_address, executor_endpoint=executor_endpoint,
                settle_every=settle_every)
            run_agent(config)
        except (AgentConfigError, AgentError) as exc:
            raise CommandError(str(exc)) from exc


def status_rows(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """The status document as (label, value) rows for people."""
    node, sidecar, txs = document["node"], document["sidecar"], document["txs"]
    if not sidecar.get("configured", True):
        sidecar_health = "none configured"
    elif sidecar["healthy"]:
        sidecar_health = f"healthy (models: {', '.join(sidecar['models']) or 'none'})"
    else:
        sidecar_health = "unhealthy"
    rows = [
        ("operator", document.get("operator")),
        ("chain", document.get("chain_id")),
        ("last height", document["last_height"]),
        ("chain height", document["chain_height"]),
        ("node", f"{node['rpc']} ({'connected' if node['connected'] else 'disconnected'})"),
        ("sidecar", f"{sidecar['address'] or '-'} ({sidecar_health})"),
        ("txs", f"{txs['sent']} sent, {txs['failed']} failed, {txs.get('pending', 0)} pending"),
        ("started", document["started_at"]),
    ]
    if not node["connected"] and node.get("error"):
        rows.insert(5, ("node error", node["error"]))
    if sidecar.get("configured", True) and sidecar.get("error"):
        rows.insert(-2, ("sidecar error", sidecar["error"]))
    return rows


@app.command("status")
def status(
    status_address: StatusAddressOption = DEFAULT_STATUS_ADDRESS,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the answer")] = 5.0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show a running agent's status: heights, node, sidecar, txs sent and failed, duties.

    Examples:

      race agent status

      race agent status --status-address 127.0.0.1:26690 --output json
    """
    url = f"http://{status_address}/status"
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"no agent answered at {url} ({exc}); is `race agent start` running, and is "
             "--status-address right?", output)
    if output is OutputFormat.json:
        show(output, document, None)
        return
    show(output, document, key_value_table("agent", status_rows(document)))
    duties = document.get("duties") or []
    if duties:
        show(output, document, rows_table(
            "duties", ["name", "trigger", "runs", "failures", "last height", "last error"],
            [(d["name"], d["trigger"], d["runs"], d["failures"], d["last_height"],
              d["last_error"]) for d in duties]))
