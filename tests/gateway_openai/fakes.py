"""Stand-ins for the relay's surroundings: a chain view answering from memory, and
executors served by plain gRPC servers that answer, refuse, fail or die mid-answer as a
test tells them to. The relay, the serving layers and the HTTP app under test are the
real ones."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import uvicorn
from fastapi import FastAPI

from race_node.gateway.openai.api import OpenAIGateway, mount_openai
from race_node.gateway.openai.grpc_service import InferenceServer
from race_node.gateway.openai.relay import Relay, RelaySettings
from race_node.inference.view import KeyState, ModelRoute
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.inference.ticket import api_key_hash, decode_ticket
from tests.harness import key_from_seed

MODEL = "fake-model"
PRICE = 1000
CHAIN_ID = "race-fake"
WORDS = ["Hello", " there", ",", " friend", "."]


def token_logprobs(token: str, k: int = 8) -> sidecar_pb2.TokenLogprobs:
    top = [sidecar_pb2.TopLogprob(token_id=i, token=token if i == 0 else f"alt{i}",
                                  logprob=-0.1 * (i + 1)) for i in range(k)]
    return sidecar_pb2.TokenLogprobs(token_id=0, token=token, logprob=-0.1, top=top)


@dataclass
class FakeExecutor(pb_grpc.ExecutorServicer):
    """``mode``: "ok", "refuse" (PERMISSION_DENIED), "invalid" (INVALID_ARGUMENT),
    "busy" (RESOURCE_EXHAUSTED) or "die" (two chunks, then UNAVAILABLE)."""

    mode: str = "ok"
    calls: int = 0
    tickets: list[pb.Ticket] = field(default_factory=list)
    cancelled: int = 0

    def Execute(self, request: pb.ExecuteRequest, context: grpc.ServicerContext
                ) -> Iterator[sidecar_pb2.GenerateChunk]:  # noqa: N802
        self.calls += 1
        self.tickets.append(decode_ticket(request.ticket))
        codes = {"refuse": grpc.StatusCode.PERMISSION_DENIED,
                 "invalid": grpc.StatusCode.INVALID_ARGUMENT,
                 "busy": grpc.StatusCode.RESOURCE_EXHAUSTED}
        if self.mode in codes:
            context.abort(codes[self.mode], f"fake executor: {self.mode}")
        sampling = request.request.sampling
        count = min(sampling.max_tokens if sampling.HasField("max_tokens") else 5, len(WORDS))
        choices = sampling.n if sampling.HasField("n") else 1
        for index, word in enumerate(WORDS[:count]):
            if self.mode == "die" and index == 2:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the executor went away")
            if self.mode == "slow":
                time.sleep(0.2)
                if not context.is_active():
                    self.cancelled += 1
                    return
            last = index == count - 1
            for choice in range(choices):
                yield sidecar_pb2.GenerateChunk(
                    model=request.request.model, index=choice, text=word, token_ids=[index],
                    logprobs=[token_logprobs(word)],
                    finish_reason=("length" if count < len(WORDS) else "stop") if last else "")
        yield sidecar_pb2.GenerateChunk(model=request.request.model, usage=sidecar_pb2.TokenUsage(
            prompt_tokens=7, completion_tokens=count * choices,
            total_tokens=7 + count * choices))


class FakeView:
    """A chain view answering from memory (the relay's only dependency on the chain)."""

    def __init__(self, endpoints: dict[str, str], weights: dict[str, int] | None = None,
                 max_context: int = 2048) -> None:
        self.height = 10
        self.chain_id = CHAIN_ID
        self.keys: dict[bytes, pb.ApiKey] = {}
        self.relays: set[bytes] = set()
        self.routes = {MODEL: ModelRoute(
            height=10, model=pb.InferenceModel(id=MODEL, units_of_compute_per_token=1,
                                               max_context=max_context,
                                               price_per_unit_nicoin=PRICE,
                                               price_per_token_nicoin=str(PRICE),
                                               providers=len(endpoints)),
            candidates=tuple(sorted((a, (weights or {}).get(a, 10)) for a in endpoints)),
            endpoints=dict(endpoints), beacon_round=3, beacon_output=b"\x05" * 32)}

    def add_key(self, secret: str, remaining: int = 10**12, status: int = 1,
                models: tuple[str, ...] = ()) -> None:
        self.keys[api_key_hash(secret)] = pb.ApiKey(
            key_hash=api_key_hash(secret).hex(), remaining_nicoin=remaining, status=status,
            models=list(models))

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def on_new_height(self, listener: Any) -> None: ...

    async def chain_id_of_node(self) -> str:
        return CHAIN_ID

    async def route(self, model: str) -> ModelRoute | None:
        return self.routes.get(model)

    def recent_routes(self, model: str) -> list[ModelRoute]:
        return [self.routes[model]] if model in self.routes else []

    async def refresh_route(self, model: str) -> ModelRoute | None:
        return self.routes.get(model)

    async def key(self, key_hash: bytes) -> KeyState:
        return KeyState(self.height, self.keys.get(key_hash))

    async def relay_registered(self, public_key: bytes) -> bool:
        return public_key in self.relays

    async def models(self) -> list[pb.InferenceModel]:
        return [route.model for route in self.routes.values()]


class ExecutorServers:
    """Fake executors on loopback ports, by account name."""

    def __init__(self) -> None:
        self.executors: dict[str, FakeExecutor] = {}
        self.endpoints: dict[str, str] = {}
        self._servers: list[grpc.Server] = []

    def add(self, name: str, mode: str = "ok") -> FakeExecutor:
        executor = FakeExecutor(mode)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_ExecutorServicer_to_server(executor, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._servers.append(server)
        self.executors[name] = executor
        self.endpoints[name] = f"127.0.0.1:{port}"
        return executor

    def add_dead(self, name: str) -> None:
        """An endpoint nothing listens on (an executor killed with -9)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoints[name] = f"127.0.0.1:{port}"

    def stop(self) -> None:
        for server in self._servers:
            server.stop(grace=None)


class GatewayServer:
    """The real gateway app (OpenAI routes and relay) on a loopback port, in a thread."""

    def __init__(self, view: FakeView, settings: RelaySettings | None = None,
                 grpc_address: str | None = None) -> None:
        self.relay = Relay(view, key_from_seed(777), settings)  # type: ignore[arg-type]
        app = FastAPI()
        gateway = OpenAIGateway(self.relay)
        if grpc_address is not None:
            self.grpc = InferenceServer(self.relay, grpc_address)
            gateway.extra_startup.append(self.grpc.start)
            gateway.extra_shutdown.append(self.grpc.close)
        mount_openai(app, gateway)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.02)
        return self

    @property
    def base_url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
