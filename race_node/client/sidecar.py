"""The GPU sidecar's gRPC client (proto/race/v1/sidecar.proto), for the agent and the tests.

One grpc.aio channel carries both services, InferenceEngine and RaceEngine. A sidecar may
serve only one of them (``--no-race``, ``--no-inference``), so :meth:`SidecarClient.health`
reports the other as absent rather than failing. With a token, every call carries
``authorization: Bearer <token>``; the token is never logged or shown in a repr.

After a failed call the channel is closed and the next call dials afresh, so a restarted
sidecar is found again as soon as the caller retries (callers pace retries with
:class:`~race_node.client.backoff.Backoff`), not when gRPC's own reconnect timer fires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 5.0
R = TypeVar("R")


# Codes after which the channel is redialled: the sidecar is down, restarting or stuck.
_REDIAL = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                     grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})


class SidecarError(Exception):
    """A sidecar call failed: no answer, a refused token, or the engine's refusal."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SidecarHealth:
    """What a health check found. A sidecar serves inference, the Race, or both; the
    service it does not serve is None."""

    inference: pb.InferenceHealthResponse | None
    race_engine: pb.RaceEngineInfo | None

    @property
    def models(self) -> list[str]:
        return [] if self.inference is None else [m.model for m in self.inference.models]

    @property
    def healthy(self) -> bool:
        """Inference (when served) is serving, not draining, and every model is healthy."""
        if self.inference is None:
            return self.race_engine is not None
        return (self.inference.serving and not self.inference.draining
                and all(m.healthy for m in self.inference.models))


class SidecarClient:
    """Async client of one sidecar at ``address`` (host:port)."""

    def __init__(self, address: str, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ())
        self._channel: grpc.aio.Channel | None = None

    def __repr__(self) -> str:
        return f"SidecarClient({self.address!r}, token={'set' if self._metadata else 'none'})"

    async def __aenter__(self) -> SidecarClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.initial_reconnect_backoff_ms", 500),
                ("grpc.max_reconnect_backoff_ms", 5000),
            ])
        return self._channel

    def inference(self) -> pb_grpc.InferenceEngineStub:
        return pb_grpc.InferenceEngineStub(self._open())

    def race(self) -> pb_grpc.RaceEngineStub:
        return pb_grpc.RaceEngineStub(self._open())

    async def _failed(self, call: str, error: grpc.aio.AioRpcError) -> SidecarError:
        """A clear error for a failed call; after a connection failure the next call redials."""
        if error.code() in _REDIAL:
            await self.close()
        detail = error.details() or error.code().name
        return SidecarError(f"sidecar {self.address}: {call} failed "
                            f"({error.code().name}): {detail}", error.code())

    async def health(self) -> SidecarHealth:
        """InferenceEngine.Health and RaceEngine.GetRaceEngineInfo, whichever are served."""
        inference = await self._unless_unimplemented("Health", self.inference().Health(
            pb.InferenceHealthRequest(), timeout=self.timeout, metadata=self._metadata))
        race_engine = await self._unless_unimplemented(
            "GetRaceEngineInfo", self.race().GetRaceEngineInfo(
                pb.GetRaceEngineInfoRequest(), timeout=self.timeout, metadata=self._metadata))
        if inference is None and race_engine is None:
            raise SidecarError(f"sidecar {self.address} serves neither InferenceEngine nor "
                               "RaceEngine", grpc.StatusCode.UNIMPLEMENTED)
        return SidecarHealth(inference=inference, race_engine=race_engine)

    async def _unless_unimplemented(self, call: str, answer: Awaitable[R]) -> R | None:
        """The call's answer, or None when the sidecar does not serve that service."""
        try:
            return await answer
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise await self._failed(call, error) from error

    async def list_models(self) -> list[pb.ModelInfo]:
        """The models the sidecar serves, with their limits."""
        try:
            answer = await self.inference().ListModels(pb.ListModelsRequest(),
                                                       timeout=self.timeout,
                                                       metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("ListModels", error) from error
        return list(answer.models)

    def generate_stream(self, request: pb.GenerateRequest, timeout: float | None = None
                        ) -> grpc.aio.UnaryStreamCall:
        """``GenerateStream`` with this client's credentials: iterate the call for its
        chunks; cancelling it aborts the request in the engine."""
        return self.inference().GenerateStream(request, timeout=timeout,
                                               metadata=self._metadata)

    async def generate(self, model: str, *, prompt: str | None = None,
                       messages: Sequence[tuple[str, str]] | None = None,
                       max_tokens: int | None = None, temperature: float | None = None,
                       seed: int | None = None, timeout: float = 120.0,
                       ) -> pb.GenerateResponse:
        """One completion: give ``prompt`` or chat ``messages`` as (role, content) pairs."""
        if (prompt is None) == (messages is None):
            raise ValueError("give exactly one of prompt and messages")
        sampling = pb.SamplingParams()
        if max_tokens is not None:
            sampling.max_tokens = max_tokens
        if temperature is not None:
            sampling.temperature = temperature
        if seed is not None:
            sampling.seed = seed
        request = pb.GenerateRequest(model=model, sampling=sampling)
        if prompt is not None:
            request.prompt = prompt
        else:
            request.chat.CopyFrom(pb.ChatMessages(messages=[
                pb.ChatMessage(role=role, content=content) for role, content in messages or ()]))
        try:
            return await self.inference().Generate(request, timeout=timeout,
                                                   metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("Generate", error) from error

    async def replay(self, request: pb.ReplayRequest, timeout: float = 120.0
                     ) -> pb.ReplayResponse:
        """InferenceEngine.Replay: judge an executor's output in one prefill (docs/inference.md,
        "The replay check")."""
        try:
            return await self.inference().Replay(request, timeout=timeout,
                                                 metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("Replay", error) from error

    # --- RaceEngine (whitepaper Appendix A) ---------------------------------------------

    async def start_race(self, request: pb.StartRaceRequest) -> AsyncIterator[pb.RaceEvent]:
        """RaceEngine.StartRace: the race's events (started, progress, hits, finished) as
        they come. The race runs on the sidecar until its deadline whether or not the
        caller keeps reading; :meth:`race_result` fetches its hits later."""
        try:
            async for event in self.race().StartRace(request, metadata=self._metadata):
                yield event
        except grpc.aio.AioRpcError as error:
            raise await self._failed("StartRace", error) from error

    async def race_result(self, race_id: str) -> pb.RaceResult:
        """RaceEngine.GetRaceResult: the hits and counters of a running or finished race
        (NOT_FOUND when the sidecar has never run it, or restarted since)."""
        try:
            return await self.race().GetRaceResult(pb.GetRaceResultRequest(race_id=race_id),
                                                   timeout=self.timeout,
                                                   metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("GetRaceResult", error) from error

    async def validate_nonces(self, request: pb.ValidateNoncesRequest,
                              timeout: float = 600.0) -> pb.ValidateNoncesResponse:
        """RaceEngine.ValidateNonces: recompute another node's nonces and judge them."""
        try:
            return await self.race().ValidateNonces(request, timeout=timeout,
                                                    metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("ValidateNonces", error) from error

    async def stop_race(self, race_id: str) -> pb.RaceResult:
        """RaceEngine.StopRace: stop a running race early; its hits so far."""
        try:
            return await self.race().StopRace(pb.StopRaceRequest(race_id=race_id),
                                              timeout=60.0, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("StopRace", error) from error

    async def engine_info(self) -> pb.RaceEngineInfo:
        """RaceEngine.GetRaceEngineInfo: device, speed, and the race running now."""
        try:
            return await self.race().GetRaceEngineInfo(pb.GetRaceEngineInfoRequest(),
                                                       timeout=self.timeout,
                                                       metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise await self._failed("GetRaceEngineInfo", error) from error
