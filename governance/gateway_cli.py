"""``race gateway serve``: the REST and gRPC gateways for one node, in one process."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from race_node.gateway.grpc_server import create_server
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
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve /race/<module>/v1/... (REST, OpenAPI at /openapi.json) and race.v1.Query (gRPC).

    Examples:

      race gateway serve

      race gateway serve --node http://127.0.0.1:26657 --rest-port 1317 --grpc-port 9090

      curl http://127.0.0.1:1317/race/pricing/v1/price
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
            uvicorn.run(create_app(node), host=host, port=rest_port, log_level=log_level)
        elif grpc_server is not None:
            grpc_server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()
        logging.shutdown()
