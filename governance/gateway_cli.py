"""``race gateway serve``: the REST and gRPC gateways for one node, in one process."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from governance.options import DEFAULT_HOME_PATH, HomeOption
from race_node.gateway.grpc_server import create_server
from race_node.gateway.openai.api import mount_openai
from race_node.gateway.openai.relay import RelaySettings
from race_node.gateway.openai.serve import GatewaySetupError, build_openai_gateway
from race_node.gateway.rest import create_app

app = typer.Typer(
    help="Serve chain queries and tx broadcast over REST and gRPC.\n\n"
         "Example:\n\n"
         "  race gateway serve --node http://127.0.0.1:26657",
    no_args_is_help=True,
)



@app.callback()
def gateway() -> None:
    """Serve chain queries and tx broadcast over REST and gRPC."""


DEFAULT_REST_PORT = 1317
DEFAULT_GRPC_PORT = 9090


@app.command("serve")
def serve(
    node: Annotated[str, typer.Option("--node", "-n", envvar="RACE_NODE",
                                      help="the node's CometBFT RPC address")]
        = "http://127.0.0.1:26657",
    host: Annotated[str, typer.Option(help="address to bind; loopback unless you mean to "
                                           "expose the gateway")] = "127.0.0.1",
    rest_port: Annotated[int, typer.Option(help="REST port (0: disable REST)")]
        = DEFAULT_REST_PORT,
    grpc_port: Annotated[int, typer.Option(help="gRPC port (0: disable gRPC)")]
        = DEFAULT_GRPC_PORT,
    home: HomeOption = DEFAULT_HOME_PATH,
    relay_key: Annotated[str | None, typer.Option(
        help="keyring key (in --home) that signs tickets: serves the OpenAI API on /v1 "
             "(register it first: race relay register)")] = None,
    inference_grpc_port: Annotated[int, typer.Option(
        help="port of the gRPC inference service race.v1.Inference (0: none)")] = 0,
    rate_limit: Annotated[float, typer.Option(
        help="requests per second each API key may send", min=0.01)] = 50.0,
    max_attempts: Annotated[int, typer.Option(
        help="executors tried for a request before its first token", min=1)] = 4,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve /race/<module>/v1/... (REST, OpenAPI at /openapi.json) and race.v1.Query (gRPC).

    Examples:

      race gateway serve

      race gateway serve --node http://127.0.0.1:26657 --rest-port 1317 --grpc-port 9090

      curl http://127.0.0.1:1317/race/pricing/v1/price

      race gateway serve --relay-key relay   # OpenAI API on http://127.0.0.1:1317/v1
    """
    import uvicorn

    if rest_port == 0 and grpc_port == 0:
        typer.echo("Error: both REST and gRPC are disabled; nothing to serve", err=True)
        raise typer.Exit(1)
    grpc_server = None
    if grpc_port:
        try:
            grpc_server, bound = create_server(node, f"{host}:{grpc_port}")
        except (OSError, RuntimeError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from exc
        grpc_server.start()
        typer.echo(f"gRPC race.v1.Query on {host}:{bound}", err=True)
    try:
        if rest_port:
            typer.echo(f"REST on http://{host}:{rest_port} (OpenAPI: /openapi.json)", err=True)
            rest = create_app(node)
            try:
                mount_openai(rest, build_openai_gateway(
                    node, home=home, relay_key=relay_key,
                    inference_grpc_address=(f"{host}:{inference_grpc_port}"
                                            if inference_grpc_port else None),
                    settings=RelaySettings(max_attempts=max_attempts,
                                           rate_per_second=rate_limit,
                                           rate_burst=max(1, int(2 * rate_limit)))))
            except GatewaySetupError as exc:
                typer.echo(f"Error: {exc}", err=True)
                raise typer.Exit(1) from exc
            if relay_key:
                typer.echo(f"OpenAI API on http://{host}:{rest_port}/v1", err=True)
            uvicorn.run(rest, host=host, port=rest_port, log_level=log_level)
        elif grpc_server is not None:
            grpc_server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()
        logging.shutdown()
