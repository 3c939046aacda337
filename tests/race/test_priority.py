"""User requests first (whitepaper section 4; gpu_sidecar/race/priority.py): inference calls
in flight on the sidecar are counted through its real gRPC server, a Race waits between
batches while any is in flight (or while the engine it shares is busy), and resumes when
they end."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from gpu_sidecar.race.engine import RaceEngine
from gpu_sidecar.race.priority import InferenceActivity
from gpu_sidecar.server import SidecarServer
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import node_seed
from tests.race.conftest import NODE_KEY, RACE_SEED


class SlowInference(pb_grpc.InferenceEngineServicer):
    """An engine whose calls take ``delay`` seconds, and whose Health reports ``load``."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.load = 0

    async def Generate(self, request: Any, context: Any) -> pb.GenerateResponse:  # noqa: N802
        await asyncio.sleep(self.delay)
        return pb.GenerateResponse(model=request.model)

    async def GenerateStream(self, request: Any, context: Any  # noqa: N802
                             ) -> AsyncIterator[pb.GenerateChunk]:
        for _ in range(3):
            await asyncio.sleep(self.delay / 3)
            yield pb.GenerateChunk(model=request.model, token_ids=[1])

    async def Health(self, request: Any, context: Any) -> pb.InferenceHealthResponse:  # noqa: N802
        return pb.InferenceHealthResponse(serving=True, models=[
            pb.ModelLoad(model="m", running_requests=self.load, healthy=True)])


async def serve(servicer: SlowInference, activity: InferenceActivity
                ) -> tuple[SidecarServer, grpc.aio.Channel]:
    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_InferenceEngineServicer_to_server(servicer, server)

    server = SidecarServer(address="127.0.0.1:0", registrations=[activity.track(register)])
    port = await server.start()
    return server, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


async def test_calls_in_flight_are_counted_while_they_run() -> None:
    activity = InferenceActivity()
    server, channel = await serve(SlowInference(delay=0.6), activity)
    stub = pb_grpc.InferenceEngineStub(channel)
    try:
        unary = asyncio.ensure_future(stub.Generate(pb.GenerateRequest(model="m")))

        async def stream() -> int:
            return len([c async for c in stub.GenerateStream(pb.GenerateRequest(model="m"))])

        streamed = asyncio.create_task(stream())
        await asyncio.sleep(0.3)
        assert activity.in_flight == 2
        await stub.Health(pb.InferenceHealthRequest())
        assert activity.in_flight == 2  # Health is not user work
        assert (await unary).model == "m" and await streamed == 3
        assert activity.in_flight == 0 and not activity.busy
    finally:
        await channel.close()
        await server.stop(0)


async def test_a_race_waits_for_requests_and_resumes_after_them(
        small_config: RaceConfig) -> None:
    activity = InferenceActivity()
    server, channel = await serve(SlowInference(delay=1.5), activity)
    stub = pb_grpc.InferenceEngineStub(channel)
    yielding = RaceEngine(device="cpu", dtype="float32", compile_forward=False,
                          activity=activity)
    try:
        request = asyncio.ensure_future(stub.Generate(pb.GenerateRequest(model="m")))
        await asyncio.sleep(0.2)
        progress = await asyncio.to_thread(
            yielding.run_race, small_config, RACE_SEED, node_seed(NODE_KEY),
            time.monotonic() + 2.5, batch_size=64)
        await request
    finally:
        await channel.close()
        await server.stop(0)
    assert progress.paused_s > 1.0
    assert progress.nonces_checked > 0  # it raced once the request was done
    assert activity.pauses >= 1


async def test_a_busy_shared_engine_pauses_the_race_too() -> None:
    engine_side = SlowInference(delay=0.1)
    server, channel = await serve(engine_side, InferenceActivity())
    address = f"127.0.0.1:{server.bound_port}"

    class Upstream:
        def channel(self) -> grpc.aio.Channel:
            return grpc.aio.insecure_channel(address)

        def metadata(self) -> tuple[tuple[str, str], ...]:
            return ()

    front = InferenceActivity()
    front.watch_upstream(Upstream(), interval=0.05)(None)  # type: ignore[arg-type]
    try:
        engine_side.load = 1
        await asyncio.sleep(0.4)
        assert front.busy
        waited = threading.Event()

        def wait() -> None:
            front.wait_until_idle(time.monotonic() + 5)
            waited.set()

        thread = threading.Thread(target=wait)
        thread.start()
        await asyncio.sleep(0.3)
        assert not waited.is_set()
        engine_side.load = 0
        await asyncio.sleep(0.4)
        assert waited.is_set() and not front.busy
        thread.join()
    finally:
        for task in front._watchers:
            task.cancel()
        await channel.close()
        await server.stop(0)

