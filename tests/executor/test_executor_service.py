"""The executor endpoint in front of a fake sidecar, with the real ticket checks: it runs
only tickets it can be paid for, records what it produced for settlement (a partial answer
too, when the relay goes away, and then stops the sidecar), and nothing for a refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from race_node.agent.executor.service import ExecutorServer, ExecutorService
from race_node.agent.executor.store import ExecutorStore, StoredTicket
from race_node.client.sidecar import SidecarClient
from race_node.inference.tickets import drawn, sign_ticket
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as sidecar_grpc
from race_protocol.inference.ticket import api_key_hash, new_request_id, prompt_hash
from tests.gateway_openai.fakes import CHAIN_ID, MODEL, FakeView, token_logprobs
from tests.harness import key_from_seed

ME = "race1executor"
OTHER = "race1other"
SECRET = "race-key"


class FakeSidecar(sidecar_grpc.InferenceEngineServicer):
    """Streams ``tokens`` chunks, one every ``delay`` seconds; counts cancellations."""

    def __init__(self, tokens: int = 4, delay: float = 0.0) -> None:
        self.tokens = tokens
        self.delay = delay
        self.requests: list[sidecar_pb2.GenerateRequest] = []
        self.cancelled = 0

    async def GenerateStream(self, request: sidecar_pb2.GenerateRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[sidecar_pb2.GenerateChunk]:
        self.requests.append(request)
        try:
            for index in range(self.tokens):
                await asyncio.sleep(self.delay)
                yield sidecar_pb2.GenerateChunk(
                    model=request.model, text=f"t{index}", token_ids=[index],
                    logprobs=[token_logprobs(f"t{index}", 5)],
                    finish_reason="length" if index == self.tokens - 1 else "")
            yield sidecar_pb2.GenerateChunk(model=request.model, usage=sidecar_pb2.TokenUsage(
                prompt_tokens=9, completion_tokens=self.tokens, total_tokens=9 + self.tokens))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class Stage:
    """A fake sidecar, the executor service over it, and a relay key to sign tickets."""

    def __init__(self, tmp: Path, sidecar: FakeSidecar, weights: dict[str, int]) -> None:
        self.sidecar = sidecar
        self.relay: Ed25519PrivateKey = key_from_seed(31337)
        self.view = FakeView({name: "127.0.0.1:1" for name in weights}, weights)
        self.view.add_key(SECRET)
        self.view.relays = {self.relay.public_key().public_bytes_raw()}
        self.store = ExecutorStore(tmp / "inference.sqlite")
        self.sidecar_server: grpc.aio.Server | None = None
        self.executor: ExecutorServer | None = None

    async def __aenter__(self) -> Stage:
        self.sidecar_server = grpc.aio.server()
        sidecar_grpc.add_InferenceEngineServicer_to_server(self.sidecar, self.sidecar_server)
        port = self.sidecar_server.add_insecure_port("127.0.0.1:0")
        await self.sidecar_server.start()
        service = ExecutorService(ME, self.view, SidecarClient(f"127.0.0.1:{port}"),  # type: ignore[arg-type]
                                  self.store)
        service.models = {MODEL: "Fake-Model"}
        self.executor = ExecutorServer(service, "127.0.0.1:0", "127.0.0.1:0")
        await self.executor.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.executor.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()
        assert self.executor is not None and self.sidecar_server is not None
        await self.executor.close()
        await self.sidecar_server.stop(None)

    def request(self, **ticket_changes: object) -> pb.ExecuteRequest:
        """A ticket for this executor (or as changed) and its request, signed."""
        request = sidecar_pb2.GenerateRequest(model=MODEL, prompt="hello")
        route = self.view.routes[MODEL]
        ticket = pb.Ticket(request_id=new_request_id(), key_hash=api_key_hash(SECRET),
                           model=MODEL, max_cost_nicoin=10**9,
                           relay=self.relay.public_key().public_bytes_raw(), height=10,
                           prompt_hash=prompt_hash(request), beacon_round=3)
        while drawn(route.beacon_output, ticket, route.candidates) != ME:
            ticket.attempt += 1
        ticket.executor = ME
        for name, value in ticket_changes.items():
            setattr(ticket, name, value)
        raw, signature = sign_ticket(self.relay, CHAIN_ID, ticket)
        return pb.ExecuteRequest(ticket=raw, signature=signature, request=request)

    async def execute(self, request: pb.ExecuteRequest) -> list[sidecar_pb2.GenerateChunk]:
        stub = pb_grpc.ExecutorStub(self.channel)
        return [chunk async for chunk in stub.Execute(request)]

    async def recorded(self) -> dict[str, int]:
        assert self.executor is not None
        await self.executor.service.flush()
        return self.store.counts()


@pytest.fixture
def weights() -> dict[str, int]:
    return {ME: 5, OTHER: 5}


async def test_a_valid_ticket_is_run_streamed_back_and_recorded(tmp_path: Path,
                                                                weights: dict) -> None:
    sidecar = FakeSidecar(tokens=4)
    async with Stage(tmp_path, sidecar, weights) as stage:
        chunks = await stage.execute(stage.request())
        counts = await stage.recorded()
        (pending,) = stage.store.pending(10)
    assert [c.text for c in chunks if c.token_ids] == ["t0", "t1", "t2", "t3"]
    assert all(c.model == MODEL for c in chunks)
    assert sidecar.requests[0].model == "Fake-Model"
    assert (pending.prompt_tokens, pending.completion_tokens) == (9, 4)
    assert counts == {"pending": 1, "transcripts": 1}


@pytest.mark.parametrize("change", [
    {"executor": OTHER}, {"height": 10_000}, {"beacon_round": 4},
    {"key_hash": b"\x07" * 32}, {"prompt_hash": b"\x00" * 32},
], ids=["another-executor", "future-height", "another-round", "unknown-key",
        "another-request"])
async def test_tickets_it_cannot_be_paid_for_are_refused_before_any_work(
        tmp_path: Path, weights: dict, change: dict) -> None:
    sidecar = FakeSidecar()
    async with Stage(tmp_path, sidecar, weights) as stage:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stage.execute(stage.request(**change))
        counts = await stage.recorded()
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert sidecar.requests == [] and counts == {"transcripts": 0}


async def test_a_forged_or_unregistered_relay_ticket_is_refused(tmp_path: Path,
                                                                 weights: dict) -> None:
    async with Stage(tmp_path, FakeSidecar(), weights) as stage:
        genuine = stage.request()
        forged = pb.ExecuteRequest()
        forged.CopyFrom(genuine)
        forged.signature = bytes(64)
        stage.view.relays = set()
        with pytest.raises(grpc.aio.AioRpcError, match="signature"):
            await stage.execute(forged)
        with pytest.raises(grpc.aio.AioRpcError, match="not registered"):
            await stage.execute(genuine)


async def test_a_relay_that_goes_away_stops_the_sidecar_and_its_tokens_are_recorded(
        tmp_path: Path, weights: dict) -> None:
    sidecar = FakeSidecar(tokens=50, delay=0.05)
    async with Stage(tmp_path, sidecar, weights) as stage:
        call = pb_grpc.ExecutorStub(stage.channel).Execute(stage.request())
        received = 0
        async for _chunk in call:
            received += 1
            if received == 3:
                break
        call.cancel()
        deadline = time.monotonic() + 5
        while not sidecar.cancelled and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        counts = await stage.recorded()
        (pending,) = stage.store.pending(10)
    assert sidecar.cancelled == 1
    assert counts["pending"] == 1
    assert 3 <= pending.completion_tokens < 50 and pending.prompt_tokens == 0


def test_the_store_keeps_a_ticket_once(tmp_path: Path) -> None:
    store = ExecutorStore(tmp_path / "s.sqlite")
    ticket = StoredTicket(5, b"\x01" * 16, b"t", b"s", 3, 4, b"c" * 32)
    store.record(ticket, b"req", b"out")
    store.record(ticket, b"req", b"out")
    assert store.counts() == {"pending": 1, "transcripts": 1}
    assert store.transcript(5, b"\x01" * 16) == (b"req", b"out")
