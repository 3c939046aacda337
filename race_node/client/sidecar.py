"""The GPU sidecar's gRPC client (proto/race/v1/sidecar.proto), for the agent and the tests.

One grpc.aio channel carries both services, InferenceEngine and RaceEngine. A sidecar may
serve only one of them (``--no-race``, ``--no-inference``), so :meth:`SidecarClient.health`
reports the other as absent rather than failing. With a token, every call carries
``authorization: Bearer <token>``; the token is never logged or shown in a repr.

A sidecar off loopback serves only TLS (gpu_sidecar/server.py), so a client of one on
another host is given the CA of the sidecar's certificate (``ca_cert``) and talks TLS; the
certificate must name the host the client dials. A client refuses, before it connects, a
non-loopback address without a CA or without a token: the sidecar would refuse a
plaintext connection anyway, and the token must not cross a network in cleartext, where
anyone on the path could read it and call the sidecar as this node.

After a failed call the channel is closed and the next call dials afresh, so a restarted
sidecar is found again as soon as the caller retries (callers pace retries with
:class:`~race_node.client.backoff.Backoff`), not when gRPC's own reconnect timer fires.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
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


class SidecarConfigError(ValueError):
    """The sidecar's address and the credentials given for it cannot work together."""


def is_loopback_address(address: str) -> bool:
    """Whether ``HOST:PORT`` can only be reached from this machine (127.0.0.0/8, ::1,
    ``localhost``); any other name may resolve to a network address."""
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_sidecar_security(address: str, token: str | None, ca_cert: Path | None) -> None:
    """Refuse credentials that would not reach ``address`` safely (see the module)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise SidecarConfigError(
            f"sidecar address {address!r} is not HOST:PORT, e.g. 127.0.0.1:50551")
    if is_loopback_address(address):
        return
    if ca_cert is None:
        raise SidecarConfigError(
            f"sidecar {address} is not loopback: it serves only TLS there, and the token "
            "must not travel in cleartext; give the CA of the sidecar's TLS certificate "
            "(--sidecar-ca)")
    if token is None:
        raise SidecarConfigError(
            f"sidecar {address} is not loopback: give its bearer token (--sidecar-token-file "
            "or $RACE_SIDECAR_TOKEN)")


def read_ca_cert(ca_cert: Path) -> bytes:
    """The PEM bytes of a CA certificate file; a clear error when it cannot be used."""
    try:
        pem = ca_cert.read_bytes()
    except OSError as exc:
        raise SidecarConfigError(f"cannot read the sidecar CA {ca_cert}: "
                                 f"{exc.strerror or exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise SidecarConfigError(f"the sidecar CA {ca_cert} holds no PEM certificate")
    return pem


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
    """Async client of one sidecar at ``address`` (host:port): TLS when ``ca_cert`` (the
    PEM of the CA that signed the sidecar's certificate) is given, else plaintext, which
    only a loopback address may use (:class:`SidecarConfigError` otherwise)."""

    def __init__(self, address: str, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, ca_cert: Path | None = None) -> None:
        token = token or None
        check_sidecar_security(address, token, ca_cert)
        self.address = address
        self.timeout = timeout
        self.ca_cert = ca_cert
        self._root_certificates = None if ca_cert is None else read_ca_cert(ca_cert)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ())
        self._channel: grpc.aio.Channel | None = None
        self._stream_channel: grpc.aio.Channel | None = None
        self._stream: grpc.aio.UnaryStreamMultiCallable | None = None

    def __repr__(self) -> str:
        return (f"SidecarClient({self.address!r}, token={'set' if self._metadata else 'none'}"
                f", tls={'on' if self.ca_cert is not None else 'off'})")

    def another(self) -> SidecarClient:
        """A client of the same sidecar with the same credentials, on its own channel."""
        twin = copy.copy(self)
        twin._channel = None
        return twin

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
            options = [
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.initial_reconnect_backoff_ms", 500),
                ("grpc.max_reconnect_backoff_ms", 5000),
            ]
            if self._root_certificates is None:
                self._channel = grpc.aio.insecure_channel(self.address, options=options)
            else:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=self._root_certificates)
                self._channel = grpc.aio.secure_channel(self.address, credentials,
                                                        options=options)
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
        chunks; cancelling it aborts the request in the engine. The method is bound once
        per channel, not once per request."""
        channel = self._open()
        if self._stream_channel is not channel:
            self._stream = pb_grpc.InferenceEngineStub(channel).GenerateStream
            self._stream_channel = channel
        return self._stream(request, timeout=timeout, metadata=self._metadata)

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
