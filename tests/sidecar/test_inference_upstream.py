"""A sidecar front (`race sidecar serve --inference-upstream`) serves InferenceEngine from
another sidecar's engine: its own token at the door, the engine's token upstream, the
engine's status codes passed through, cancellation carried upstream, and Health that
follows the engine. The engine here is a stand-in gRPC servicer, so no vLLM runs."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from gpu_sidecar.inference.upstream import (
    InferenceUpstream,
    UpstreamConfigError,
    UpstreamInferenceServicer,
    upstream_inference_registration,
)
from gpu_sidecar.server import SidecarSecurity, SidecarServer
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

ENGINE_TOKEN = "engine-secret"
FRONT_TOKEN = "front-secret"
REPO = Path(__file__).resolve().parents[2]

# A request's model name picks the stand-in engine's answer.
REFUSALS = {
    "missing": (grpc.StatusCode.NOT_FOUND, "model 'missing' is not served here"),
    "too-long": (grpc.StatusCode.INVALID_ARGUMENT, "prompt is 9999 tokens, over the limit"),
    "busy": (grpc.StatusCode.RESOURCE_EXHAUSTED, "the model's queue is full"),
    "draining": (grpc.StatusCode.UNAVAILABLE, "the sidecar is shutting down"),
}


@dataclass
class StandInEngine(pb_grpc.InferenceEngineServicer):
    """Answers like a sidecar's engine and records what reached it."""

    seen_tokens: list[str] = field(default_factory=list)
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self, context: grpc.aio.ServicerContext) -> None:
        self.seen_tokens.append(dict(context.invocation_metadata())["authorization"])

    async def Generate(self, request: pb.GenerateRequest,
                       context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        self._note(context)
        if request.model in REFUSALS:
            await context.abort(*REFUSALS[request.model])
        return pb.GenerateResponse(request_id=request.request_id, model=request.model,
                                   choices=[pb.Completion(text=f"echo: {request.prompt}",
                                                          finish_reason="stop")])

    async def GenerateStream(self, request: pb.GenerateRequest,
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[pb.GenerateChunk]:
        self._note(context)
        try:
            for index in range(1000):
                yield pb.GenerateChunk(model=request.model, text=f"t{index} ")
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.stream_cancelled.set()
            raise

    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[pb.ModelInfo(name="stand-in", max_model_len=64)])

    async def Health(self, request: pb.InferenceHealthRequest,
                     context: grpc.aio.ServicerContext) -> pb.InferenceHealthResponse:
        return pb.InferenceHealthResponse(
            serving=True, models=[pb.ModelLoad(model="stand-in", healthy=True)])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def front_credentials(token: str = FRONT_TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Pair:
    engine: StandInEngine
    engine_server: SidecarServer
    front: pb_grpc.InferenceEngineStub


async def start_engine(engine: StandInEngine, port: int = 0) -> SidecarServer:
    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_InferenceEngineServicer_to_server(engine, server)

    server = SidecarServer(address=f"127.0.0.1:{port}",
                           security=SidecarSecurity(token=ENGINE_TOKEN),
                           registrations=[register])
    await server.start()
    return server


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """A stand-in engine and a front in this process, both behind their own tokens."""
    engine = StandInEngine()
    engine_server = await start_engine(engine)
    forwarding = UpstreamInferenceServicer(InferenceUpstream(
        address=f"127.0.0.1:{engine_server.bound_port}", token=ENGINE_TOKEN))
    front_server = SidecarServer(address="127.0.0.1:0",
                                 security=SidecarSecurity(token=FRONT_TOKEN),
                                 registrations=[upstream_inference_registration(forwarding)])
    await front_server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{front_server.bound_port}") as channel:
        yield Pair(engine, engine_server, pb_grpc.InferenceEngineStub(channel))
    await front_server.stop(0)
    await forwarding.close()
    await engine_server.stop(0)


async def test_a_completion_goes_through_the_front_with_the_engines_token(pair: Pair) -> None:
    answer = await pair.front.Generate(pb.GenerateRequest(model="stand-in", prompt="hi",
                                                          request_id="r1"),
                                       metadata=front_credentials(), timeout=10)
    assert (answer.request_id, answer.choices[0].text) == ("r1", "echo: hi")
    assert pair.engine.seen_tokens == [f"Bearer {ENGINE_TOKEN}"]


async def test_the_front_wants_its_own_token_not_the_engines(pair: Pair) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pair.front.Generate(pb.GenerateRequest(model="stand-in", prompt="hi"),
                                  metadata=front_credentials(ENGINE_TOKEN), timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert pair.engine.seen_tokens == []


@pytest.mark.parametrize("model", sorted(REFUSALS))
async def test_the_engines_refusals_keep_their_status_code(pair: Pair, model: str) -> None:
    code, message = REFUSALS[model]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pair.front.Generate(pb.GenerateRequest(model=model, prompt="hi"),
                                  metadata=front_credentials(), timeout=10)
    assert refused.value.code() is code
    assert message in (refused.value.details() or "")


async def test_an_engine_refusing_the_fronts_token_is_unavailable_not_unauthenticated(
        ) -> None:
    engine_server = await start_engine(StandInEngine())
    forwarding = UpstreamInferenceServicer(InferenceUpstream(
        address=f"127.0.0.1:{engine_server.bound_port}", token="stale-token"))
    front_server = SidecarServer(address="127.0.0.1:0",
                                 registrations=[upstream_inference_registration(forwarding)])
    await front_server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front_server.bound_port}") as channel:
            front = pb_grpc.InferenceEngineStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await front.Generate(pb.GenerateRequest(model="stand-in", prompt="hi"),
                                     timeout=10)
            health = await front.Health(pb.InferenceHealthRequest(), timeout=10)
    finally:
        await front_server.stop(0)
        await forwarding.close()
        await engine_server.stop(0)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "refused its credentials" in (refused.value.details() or "")
    assert health.serving is False


async def test_a_client_cancelling_a_stream_cancels_it_at_the_engine(pair: Pair) -> None:
    call = pair.front.GenerateStream(pb.GenerateRequest(model="stand-in", prompt="hi"),
                                     metadata=front_credentials(), timeout=30)
    first = await call.read()
    assert first.text == "t0 "
    call.cancel()
    await asyncio.wait_for(pair.engine.stream_cancelled.wait(), timeout=10)


async def test_health_and_models_follow_the_engine(pair: Pair) -> None:
    health = await pair.front.Health(pb.InferenceHealthRequest(),
                                     metadata=front_credentials(), timeout=10)
    models = await pair.front.ListModels(pb.ListModelsRequest(),
                                         metadata=front_credentials(), timeout=10)
    assert health.serving and [m.model for m in health.models] == ["stand-in"]
    assert [m.name for m in models.models] == ["stand-in"]

    await pair.engine_server.stop(0)
    down = await pair.front.Health(pb.InferenceHealthRequest(),
                                   metadata=front_credentials(), timeout=10)
    assert down.serving is False
    with pytest.raises(grpc.aio.AioRpcError) as unreachable:
        await pair.front.Generate(pb.GenerateRequest(model="stand-in", prompt="hi"),
                                  metadata=front_credentials(), timeout=10)
    assert unreachable.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "inference upstream 127.0.0.1:" in (unreachable.value.details() or "")


@pytest.mark.parametrize(("address", "token", "message"), [
    ("127.0.0.1", None, "is not HOST:PORT"),
    ("127.0.0.1:0", None, "is not HOST:PORT"),
    ("10.0.0.7:50551", None, "is not loopback"),
    ("10.0.0.7:50551", "engine-token", "its token would travel in cleartext"),
])
def test_an_unusable_upstream_is_refused(address: str, token: str | None,
                                         message: str) -> None:
    with pytest.raises(UpstreamConfigError, match=message):
        InferenceUpstream(address=address, token=token)


def test_models_are_the_upstreams_not_the_fronts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpu_sidecar.cli", "serve", "--no-race",
         "--inference-upstream", "127.0.0.1:50551", "--model", "x=/nowhere"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "the upstream's models are served" in " ".join(result.stderr.split())


async def test_the_cli_front_serves_from_the_engine_and_never_logs_tokens(
        tmp_path: Path) -> None:
    engine = StandInEngine()
    engine_server = await start_engine(engine)
    front_port = free_port()
    log_path = tmp_path / "front.log"
    env = {**os.environ, "FRONT_TOKEN": FRONT_TOKEN, "ENGINE_TOKEN": ENGINE_TOKEN}
    with log_path.open("wb") as log:
        front = subprocess.Popen(
            [sys.executable, "-m", "gpu_sidecar.cli", "serve", "--no-race",
             "--address", f"127.0.0.1:{front_port}", "--token-env", "FRONT_TOKEN",
             "--inference-upstream", f"127.0.0.1:{engine_server.bound_port}",
             "--inference-upstream-token-env", "ENGINE_TOKEN"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front_port}") as channel:
            stub = pb_grpc.InferenceEngineStub(channel)
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = await stub.Health(pb.InferenceHealthRequest(),
                                               metadata=front_credentials(), timeout=2)
                    break
                except grpc.aio.AioRpcError:
                    assert front.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, log_path.read_text()
                    await asyncio.sleep(0.2)
            answer = await stub.Generate(pb.GenerateRequest(model="stand-in", prompt="ok"),
                                         metadata=front_credentials(), timeout=10)
    finally:
        front.terminate()
        front.wait(30)
        await engine_server.stop(0)
    assert health.serving and answer.choices[0].text == "echo: ok"
    assert front.returncode == 0
    log_text = log_path.read_text()
    assert "InferenceEngine calls go to" in log_text
    assert FRONT_TOKEN not in log_text and ENGINE_TOKEN not in log_text
