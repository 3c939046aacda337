"""``race localnet``: N validators on 127.0.0.1 for development and tests, each a provider
(cometbft, its app, its GPU sidecar and its node agent)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    rows_table,
    show,
    user_errors,
)
from race_node.client.sidecar import SidecarClient, SidecarError
from race_node.localnet import (
    EngineStatus,
    GatewayStatus,
    Localnet,
    LocalnetError,
    LocalnetSpec,
    NodeStatus,
)
from race_node.localnet.spec import INFERENCE_ENGINES
from race_node.node.genesis_params import merge_params, parse_param_assignments
from race_node.node.runner import run_until_signalled, sigterm_as_interrupt
from race_protocol.gen.race.v1.sidecar_pb2 import GenerateResponse

DEFAULT_DIR = Path("localnet/.data")

app = typer.Typer(
    help="Run a local network of validators on 127.0.0.1, each a provider: cometbft, the "
         "ABCI app, a GPU sidecar and a node agent.\n\n"
         "Examples:\n\n"
         "  race localnet init --validators 4 --dir /tmp/net\n\n"
         "  race localnet init --dir /tmp/net --param epochs.epoch_length_blocks=20\n\n"
         "  race localnet init --dir /tmp/net --no-providers   (the chain only)\n\n"
         "  race localnet start --dir /tmp/net\n\n"
         "  race localnet status --dir /tmp/net --output json\n\n"
         "  race localnet complete 'Say hello' --dir /tmp/net --node 2\n\n"
         "  race localnet stop --dir /tmp/net",
    no_args_is_help=True,
)

DirOption = Annotated[Path, typer.Option("--dir", "-d", envvar="RACE_LOCALNET_DIR",
                                         help="the localnet's directory")]
NodeIndexOption = Annotated[list[int] | None, typer.Option(
    "--node", help="only this validator index (repeatable); default: all (and the gateway "
                   "and the shared engine)")]
ParamOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", metavar="MODULE.KEY=VALUE",
    help="a genesis module param (repeatable), e.g. gov.voting_period_blocks=30; "
         "overrides the config file's [params.<module>] tables")]


def _running(status: NodeStatus) -> str:
    if status.running:
        return "yes"
    return "partly" if status.app_running or status.cometbft_running else "no"


def _health(running: bool, healthy: bool) -> str:
    if healthy:
        return "[green]healthy[/green]"
    return "[yellow]unhealthy[/yellow]" if running else "stopped"


def _status_table(statuses: list[NodeStatus]) -> Table:
    return rows_table("localnet", ["node", "running", "height", "app hash", "peers", "rpc"], [
        (s.name, _running(s), s.height, (s.app_hash or "")[:16], s.peers, s.rpc)
        for s in statuses
    ])


def _providers_table(statuses: list[NodeStatus]) -> Table | None:
    """Each node's agent (health, the last height it handled, txs sent and failed) and its
    sidecar (health, address, models); None on a chain-only localnet."""
    providers = [s for s in statuses if s.agent is not None and s.sidecar is not None]
    if not providers:
        return None
    served = {tuple(s.sidecar.models) for s in providers if s.sidecar and s.sidecar.models}
    same_models = len(served) == 1
    columns = ["node", "agent", "height", "txs (failed)", "sidecar", "address"]
    rows = []
    for s in providers:
        assert s.agent is not None and s.sidecar is not None
        row = [s.name, _health(s.agent.running, s.agent.healthy), s.agent.last_height,
               f"{s.agent.txs_sent or 0} ({s.agent.txs_failed or 0})",
               _health(s.sidecar.running, s.sidecar.healthy), s.sidecar.address]
        if not same_models:
            row.append(", ".join(s.sidecar.models))
        rows.append(row)
    if same_models:
        title = f"providers (each sidecar serves {', '.join(next(iter(served)))})"
    else:
        title = "providers"
        columns.append("models")
    return rows_table(title, columns, rows)


def _gateway_line(gateway: GatewayStatus) -> str:
    if not gateway.enabled:
        return ("gateway: none (this localnet was created without one: --no-gateway, or "
                "before localnets had one; `race gateway serve --node URL` serves one by hand)")
    state = "[green]running[/green]" if gateway.running else "[yellow]stopped[/yellow]"
    return (f"gateway: {state}  REST {gateway.rest}  gRPC {gateway.grpc}  "
            f"(in front of {gateway.node})")


def _engine_line(engine: EngineStatus) -> str:
    if engine.mode is None:
        return "providers: none (created with --no-providers: the chain only)"
    if engine.mode == "dedicated":
        return "inference engine: dedicated (each node's sidecar runs its own vLLM)"
    state = ("[green]healthy[/green]" if engine.healthy else
             "[yellow]not serving yet[/yellow]" if engine.running else "[yellow]stopped[/yellow]")
    models = f"  serving {', '.join(engine.models)}" if engine.models else ""
    return f"inference engine: shared, {state}  {engine.address}{models}"


def _status_document(net: Localnet, statuses: list[NodeStatus], engine: EngineStatus,
                     gateway: GatewayStatus) -> dict:
    return {"dir": str(net.directory), "chain_id": net.manifest()["chain_id"],
            "nodes": [s.as_dict() for s in statuses], "providers": net.providers(),
            "engine": engine.as_dict(), "gateway": gateway.as_dict()}


def _print_status(net: Localnet, statuses: list[NodeStatus], engine: EngineStatus,
                  gateway: GatewayStatus) -> None:
    console.print(_status_table(statuses))
    providers = _providers_table(statuses)
    if providers is not None:
        console.print(providers)
    console.print(_engine_line(engine), highlight=False)
    console.print(_gateway_line(gateway), highlight=False)


def _next_steps(net: Localnet, seconds: float) -> None:
    """What to try once the localnet is up, with this localnet's own addresses."""
    size, directory = net.size, net.directory
    home0, other = net.home(0).root, net.node(min(1, size - 1))["account"]
    providers, gateway = net.providers(), net.gateway()
    what = (f"{size} validators, each a provider serving {providers['model']}"
            if providers else f"{size} validators (no providers)")
    lines = [f"[green]localnet ready[/green] in {seconds:.0f}s: {what}", "", "try:",
             f"  race localnet status --dir {directory}",
             f"  race query balance {other} --home {home0}",
             f"  race tx send {other} 1icoin --from validator --home {home0}"]
    if gateway is not None:
        lines.append(f"  curl {gateway['rest']}/race/pricing/v1/price      "
                     f"(the gateway; gRPC on {gateway['grpc']})")
    if gateway is not None and gateway.get("openai"):
        lines.append(f"  race apikey create --from developer --budget 10icoin --home {home0}"
                     "   (prints an API key once)")
        lines.append(f"  then any OpenAI client with base_url={gateway['openai']} and that "
                     "api_key (README.md, \"Inference\")")
    if providers:
        lines.append(f"  race localnet complete 'Write a haiku about validators' "
                     f"--dir {directory} --node {size - 1}   (through that node's own sidecar)")
    lines.append(f"logs: {directory}/node*/logs" + (f", {directory}/engine" if net.engine()
                                                     else ""))
    # soft_wrap: the commands stay on one line each, so they can be copied
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


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
    providers: Annotated[bool | None, typer.Option(
        "--providers/--no-providers",
        help="make every validator a provider: its own sidecar (port base+10i+5) and agent "
             "(status on base+10i+6); default: on. --no-providers: the chain only")] = None,
    inference_engine: Annotated[str | None, typer.Option(
        help=f"{' or '.join(INFERENCE_ENGINES)}: one vLLM engine (port base+7) behind every "
             "sidecar (default), one per sidecar (4-5 GiB of memory each), or none (the "
             "sidecars only race)")] = None,
    model: Annotated[str | None, typer.Option(
        help="the model the providers serve: a folder of .cache/models (default "
             "SmolLM2-135M-Instruct) or a path")] = None,
    overwrite: Annotated[bool, typer.Option(help="delete an existing localnet in DIR")] = False,
    if_missing: Annotated[bool, typer.Option(
        help="do nothing when DIR already holds a localnet")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create N validator homes with one genesis, wired as peers on 127.0.0.1.

    Each validator's keyring holds a funded key named `validator`; each provider's home
    holds its sidecar's token (sidecar/token, 0600). Module params for genesis come from
    the config file's [params.<module>] tables and --param (which wins); they, and the
    providers' model, are checked before anything is written.

    Examples:

      race localnet init --validators 4 --dir /tmp/net --timeout-commit 200ms

      race localnet init --dir /tmp/net --no-providers      (validators only: fast, light)

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
                create_empty_blocks=empty_blocks, gateway=gateway, providers=providers,
                inference_engine=inference_engine, model=model,
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
        engine_status = net.engine_status(query=False)
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
        console.print(_engine_line(engine_status), highlight=False)
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
    providers: Annotated[bool, typer.Option(
        "--providers/--no-providers",
        help="also start each node's sidecar and agent (and the shared engine), and wait "
             "until every provider is healthy")] = True,
    provider_timeout: Annotated[float, typer.Option(
        help="seconds to wait for the providers to become healthy")] = 600.0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Start the validators, their providers and the gateway in the background (pid files,
    logs in DIR), and wait until every provider's sidecar and agent are healthy.

    Examples:

      race localnet start --dir /tmp/net

      race localnet start --dir /tmp/net --node 2        (restart one stopped node)

      race localnet start --dir /tmp/net --no-gateway    (no gateway this time)

      race localnet start --dir /tmp/net --no-providers  (the chain only this time)

      race localnet start --dir /tmp/net --foreground    (what `make run` does)
    """
    with_gateway = gateway and node is None
    started_at = time.monotonic()
    with user_errors(output):
        net = Localnet(directory)
        net.manifest()
    if not foreground:
        with user_errors(output):
            if output is OutputFormat.text:
                with console.status("starting validators (app, then cometbft)…") as progress:
                    net.start(node, gateway=with_gateway, providers=providers,
                              provider_timeout=provider_timeout,
                              on_progress=lambda line: progress.update(line))
            else:
                net.start(node, gateway=with_gateway, providers=providers,
                          provider_timeout=provider_timeout)
            statuses = net.status()
            engine_status = net.engine_status()
            gateway_status = net.gateway_status()
        if output is OutputFormat.json:
            show(output, _status_document(net, statuses, engine_status, gateway_status), None)
            return
        _print_status(net, statuses, engine_status, gateway_status)
        _next_steps(net, time.monotonic() - started_at)
        return
    warned = False

    def report() -> None:
        nonlocal warned
        parts = [f"{s.name}:{s.height if s.height is not None else '-'}"
                 for s in net.status(query_providers=False)]
        console.print("heights " + "  ".join(parts), highlight=False)
        process = net.gateway_process()
        if with_gateway and process is not None and not process.running() and not warned:
            warned = True
            console.print(f"[yellow]the gateway stopped[/yellow]; last lines of "
                          f"{process.log_path}:\n{process.log_tail()}", highlight=False)

    try:
        with sigterm_as_interrupt():
            with user_errors(output), console.status("starting validators…") as progress:
                net.start(node, gateway=with_gateway, providers=providers,
                          provider_timeout=provider_timeout,
                          on_progress=lambda line: progress.update(line))
            _print_status(net, net.status(), net.engine_status(), net.gateway_status())
            _next_steps(net, time.monotonic() - started_at)
            console.print(f"[green]localnet running[/green] (logs in {net.directory}/node*/logs)"
                          "; Ctrl-C stops it", highlight=False)
            try:
                code = run_until_signalled(net.supervised(node), report, 5.0)
            finally:
                if with_gateway:
                    net.stop_gateway()
    except KeyboardInterrupt:
        net.stop(node)
        code = 0
    console.print("localnet stopped" if code == 0 else "[red]localnet stopped after a "
                                                        "failure[/red]")
    raise typer.Exit(code)


@app.command("stop")
def stop(directory: DirOption = DEFAULT_DIR, node: NodeIndexOption = None,
         output: OutputOption = OutputFormat.text) -> None:
    """Stop the gateway, the agents, the sidecars, the shared engine and the validators
    cleanly (each validator: cometbft first, then its app).

    With --node only those nodes stop (their agent, sidecar and validator); the gateway
    and the shared engine keep running.

    Example: race localnet stop --dir /tmp/net
    """
    with user_errors(output):
        net = Localnet(directory)
        net.manifest()
        net.stop(node)
        statuses = net.status(query_rpc=False)
        engine_status = net.engine_status(query=False)
        gateway_status = net.gateway_status()
    if output is OutputFormat.json:
        show(output, _status_document(net, statuses, engine_status, gateway_status), None)
        return
    _print_status(net, statuses, engine_status, gateway_status)


@app.command("status")
def status(directory: DirOption = DEFAULT_DIR, output: OutputOption = OutputFormat.text) -> None:
    """Show each node (running or not, height, app hash, peers; its agent and sidecar with
    their health and models), the shared engine and the gateway.

    Example: race localnet status --dir /tmp/net --output json
    """
    with user_errors(output):
        net = Localnet(directory)
        manifest = net.manifest()
        statuses = net.status()
        engine_status = net.engine_status()
        gateway_status = net.gateway_status()
    if output is OutputFormat.json:
        show(output, _status_document(net, statuses, engine_status, gateway_status), None)
        return
    console.print(key_value_table("localnet", [("dir", net.directory),
                                               ("chain id", manifest["chain_id"])]))
    _print_status(net, statuses, engine_status, gateway_status)


@app.command("complete")
def complete(
    prompt: Annotated[str, typer.Argument(help="the user message")],
    directory: DirOption = DEFAULT_DIR,
    node: Annotated[int, typer.Option("--node", help="whose sidecar answers")] = 0,
    max_tokens: Annotated[int, typer.Option(help="the longest answer, in tokens")] = 64,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Ask one node's own sidecar for a chat completion (greedy), with that node's token.

    Example: race localnet complete 'Name three prime numbers' --dir /tmp/net --node 2
    """
    with user_errors(output):
        net = Localnet(directory)
        providers = net.providers()
        if providers is None:
            raise LocalnetError(f"the localnet in {net.directory} has no providers "
                                "(created with --no-providers)")
        client = net.sidecar_client(node)
        try:
            answer = asyncio.run(_generate(client, providers["model"], prompt, max_tokens))
        except SidecarError as exc:
            raise LocalnetError(f"{exc} (is the localnet running? race localnet status "
                                f"--dir {net.directory})") from exc
    choice = answer.choices[0]
    document = {"node": node, "sidecar": client.address, "model": answer.model,
                "text": choice.text, "finish_reason": choice.finish_reason,
                "usage": {"prompt_tokens": answer.usage.prompt_tokens,
                          "completion_tokens": answer.usage.completion_tokens}}
    if output is OutputFormat.json:
        show(output, document, None)
        return
    console.print(choice.text, highlight=False, markup=False)
    console.print(f"[dim]node{node}'s sidecar {client.address}, {answer.model}: "
                  f"{answer.usage.prompt_tokens} prompt + {answer.usage.completion_tokens} "
                  f"completion tokens, finish {choice.finish_reason}[/dim]", highlight=False)


async def _generate(client: SidecarClient, model: str, prompt: str, max_tokens: int
                    ) -> GenerateResponse:
    async with client:
        return await client.generate(model, messages=[("user", prompt)],
                                     max_tokens=max_tokens, temperature=0.0)
