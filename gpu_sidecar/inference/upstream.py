"""The InferenceEngine service served from another sidecar: a front without its own vLLM.

Several sidecars can share one inference engine host: each front keeps its own port,
its own bearer token (its node's identity) and its own RaceEngine, and forwards every
InferenceEngine call to the engine host (docs/inference.md, "Sharing one engine"). The
localnet runs its providers this way by default, since four vLLM engines do not fit on a
small machine.

Rules this module keeps:

- The client sees the engine's own status codes and messages (NOT_FOUND,
  INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, ...), except when the engine refuses
  the front's own credentials: that is the front's fault, never the client's, so it is
  UNAVAILABLE with a message for the operator.
- A client's deadline travels upstream; a client's cancellation cancels the upstream
  call, so the engine frees the request's batch slot and KV cache.
- Health is the engine's health; an unreachable engine is "not serving".
- The front's token and the engine's token are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from gpu_sidecar.server import MAX_MESSAGE_BYTES, is_loopback
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0
# First and longest wait between attempts to reach the engine, in milliseconds.
RECONNECT_BACKOFF_MS = (1_000, 5_000)
# The engine refusing the front's credentials is an operator's problem, not the caller's.
_FRONT_CREDENTIAL_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class UpstreamConfigError(ValueError):
    """The upstream address or its credentials cannot work."""


@dataclass(frozen=True)
class InferenceUpstream:
    """Where the engine host is and how this front authenticates to it.

    When the engine is not on loopback, both a token and the engine's CA are required:
    the engine host must be able to tell its fronts from anyone else on the network, and
    the token must not cross that network in cleartext, where anyone on the path could
    read it and call the engine as this front (docs/inference.md, "Sharing one engine").
    """

    address: str
    token: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None

    def __post_init__(self) -> None:
        host, sep, port = self.address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UpstreamConfigError(
                f"inference upstream {self.address!r} is not HOST:PORT, e.g. 127.0.0.1:50551")
        if is_loopback(self.address):
            return
        if self.token is None:
            raise UpstreamConfigError(
                f"inference upstream {self.address} is not loopback: give this sidecar the "
                "engine host's token (--inference-upstream-token-env)")
        if self.ca_cert is None:
            raise UpstreamConfigError(
                f"inference upstream {self.address} is not loopback and its token would "
                "travel in cleartext: give the CA of the engine's TLS certificate "
                "(--inference-upstream-ca)")

    def channel(self) -> grpc.aio.Channel:
        """A channel to the engine host: TLS when a CA is given, else plaintext."""
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   # An engine that is still loading refuses connections for a minute or
                   # more; gRPC's default backoff grows to two minutes meanwhile, so a
                   # sidecar would keep saying the engine is away long after it is up.
                   ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
                   ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
                   ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1])]
        if self.ca_cert is None:
            return grpc.aio.insecure_channel(self.address, options=options)
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_cert.read_bytes())
        return grpc.aio.secure_channel(self.address, credentials, options=options)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata that presents this front's token to the engine host."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


class UpstreamInferenceServicer(pb_grpc.InferenceEngineServicer):
    """Forwards each InferenceEngine call to the engine host, status codes included."""

    def __init__(self, upstream: InferenceUpstream) -> None:
        self.upstream = upstream
        self._metadata = upstream.metadata()
        self._channel: grpc.aio.Channel | None = None
        self._engine: pb_grpc.InferenceEngineStub | None = None
        self._last_health_error: str | None = None

    @property
    def _stub(self) -> pb_grpc.InferenceEngineStub:
        # Opened on first use, inside the server's event loop (an aio channel binds to it).
        if self._engine is None:
            self._channel = self.upstream.channel()
            self._engine = pb_grpc.InferenceEngineStub(self._channel)
        return self._engine

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def _abort(self, context: grpc.aio.ServicerContext,
                     error: grpc.aio.AioRpcError) -> None:
        """Answer the client with the engine's status (credentials aside, see the module)."""
        code, details = error.code(), error.details() or ""
        if code in _FRONT_CREDENTIAL_CODES:
            log.error("the inference upstream %s refused this sidecar's credentials: %s",
                      self.upstream.address, details)
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "this sidecar's inference upstream refused its credentials")
        if code is grpc.StatusCode.UNAVAILABLE:
            details = f"inference upstream {self.upstream.address}: {details}"
        await context.abort(code, details)

    async def _unary(self, method: Callable, request: object,
                     context: grpc.aio.ServicerContext) -> object:
        try:
            return await method(request, metadata=self._metadata,
                                timeout=context.time_remaining())
        except grpc.aio.AioRpcError as error:
            await self._abort(context, error)
            raise

    async def Generate(self, request: pb.GenerateRequest,
                       context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        return await self._unary(self._stub.Generate, request, context)  # type: ignore[return-value]

    async def GenerateStream(self, request: pb.GenerateRequest,
                             context: grpc.aio.ServicerContext) -> AsyncIterator[pb.GenerateChunk]:
        call = self._stub.GenerateStream(request, metadata=self._metadata,
                                         timeout=context.time_remaining())
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as error:
            await self._abort(context, error)
        finally:
            # The client went away (or the stream ended): the engine must stop generating.
            call.cancel()

    async def Replay(self, request: pb.ReplayRequest,
                     context: grpc.aio.ServicerContext) -> pb.ReplayResponse:
        return await self._unary(self._stub.Replay, request, context)  # type: ignore[return-value]

    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        return await self._unary(self._stub.ListModels, request, context)  # type: ignore[return-value]

    async def Health(self, request: pb.InferenceHealthRequest,
                     context: grpc.aio.ServicerContext) -> pb.InferenceHealthResponse:
        """The engine host's health; an unreachable or refusing engine is not serving."""
        timeout = context.time_remaining()
        try:
            health = await self._stub.Health(
                request, metadata=self._metadata,
                timeout=HEALTH_TIMEOUT_S if timeout is None else min(timeout, HEALTH_TIMEOUT_S))
        except grpc.aio.AioRpcError as error:
            message = f"{error.code().name}: {error.details()}"
            if message != self._last_health_error:
                log.warning("inference upstream %s is not healthy: %s",
                            self.upstream.address, message)
                self._last_health_error = message
            return pb.InferenceHealthResponse(serving=False, draining=False)
        if self._last_health_error is not None:
            log.info("inference upstream %s answers again", self.upstream.address)
            self._last_health_error = None
        return health


def upstream_inference_registration(
        servicer: UpstreamInferenceServicer) -> Callable[[grpc.aio.Server], None]:
    """The callable that adds the forwarding InferenceEngine service to a sidecar server."""
    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_InferenceEngineServicer_to_server(servicer, server)

    return register
