"""User requests before the Race (whitepaper section 4, "The Task": "The Race must not
interfere with normal user requests. When user requests are present, they must be
processed without delay").

:class:`InferenceActivity` counts the inference calls in flight on this sidecar
(``Generate``, ``GenerateStream`` and ``Replay``, served by its own engine or forwarded to
an upstream one). The Race engine asks it before every batch and waits while any call is
in flight, so a user request shares the device with at most the one batch already
running. The Race loses that time, and finds fewer hits: its count measures the capacity
left over after the node's users are served.

The count is kept by wrapping the inference service's method handlers when they are
registered (:meth:`InferenceActivity.track`), so neither the inference servicers nor the
server need to know about the Race. A sidecar whose inference is served by an engine it
shares with others (``--inference-upstream``, as on the localnet) also watches that
engine's load (:meth:`InferenceActivity.watch_upstream`): its Race then waits while any
request runs there, whichever sidecar forwarded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

# The InferenceEngine methods that carry user work; Health and ListModels are cheap.
USER_METHODS = frozenset({"Generate", "GenerateStream", "Replay"})
POLL_S = 0.05
UPSTREAM_POLL_S = 0.2


class UpstreamEndpoint(Protocol):
    """How to reach a shared inference engine (gpu_sidecar.inference.upstream)."""

    def channel(self) -> grpc.aio.Channel: ...

    def metadata(self) -> tuple[tuple[str, str], ...]: ...


class InferenceActivity:
    """How many user requests are in flight, and a wait for there to be none."""

    def __init__(self, methods: frozenset[str] = USER_METHODS) -> None:
        self.methods = methods
        self._idle = threading.Condition()
        self._in_flight = 0
        self._upstream_busy = False
        self._watchers: list[asyncio.Task[None]] = []
        self.paused_s = 0.0
        self.pauses = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def busy(self) -> bool:
        """A user request runs here, or on the engine this sidecar shares."""
        return self._in_flight > 0 or self._upstream_busy

    def set_upstream_busy(self, busy: bool) -> None:
        with self._idle:
            self._upstream_busy = busy
            if not self.busy:
                self._idle.notify_all()

    def begin(self) -> None:
        with self._idle:
            self._in_flight += 1

    def end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self.busy:
                self._idle.notify_all()

    def wait_until_idle(self, deadline: float, stop: threading.Event | None = None) -> float:
        """Block while a user request is in flight, until ``deadline`` (time.monotonic) or
        ``stop``; the seconds waited."""
        started = time.monotonic()
        with self._idle:
            if not self.busy:
                return 0.0
            self.pauses += 1
            while self.busy and time.monotonic() < deadline and \
                    not (stop is not None and stop.is_set()):
                self._idle.wait(min(POLL_S, max(0.0, deadline - time.monotonic())))
        waited = time.monotonic() - started
        self.paused_s += waited
        return waited

    # --- counting the inference service's calls ---------------------------------------------

    def track(self, register: Callable[[grpc.aio.Server], None]
              ) -> Callable[[grpc.aio.Server], None]:
        """``register`` (a service registration for the sidecar server) with its user
        methods counted."""

        def counted(server: grpc.aio.Server) -> None:
            register(_CountingServer(server, self))  # type: ignore[arg-type]

        return counted

    def watch_upstream(self, upstream: UpstreamEndpoint, interval: float = UPSTREAM_POLL_S
                       ) -> Callable[[grpc.aio.Server], None]:
        """A registration that, once the server runs, polls the shared engine's Health every
        ``interval`` seconds: requests admitted, running or waiting there make it busy."""

        def register(server: grpc.aio.Server) -> None:
            self._watchers.append(asyncio.get_running_loop().create_task(
                self._watch(upstream, interval), name="race-watches-upstream"))

        return register

    async def _watch(self, upstream: UpstreamEndpoint, interval: float) -> None:
        channel = upstream.channel()
        stub = pb_grpc.InferenceEngineStub(channel)
        try:
            while True:
                try:
                    health = await stub.Health(pb.InferenceHealthRequest(),
                                                metadata=upstream.metadata(), timeout=2.0)
                    self.set_upstream_busy(any(
                        m.admitted_requests or m.running_requests or m.waiting_requests
                        for m in health.models))
                except grpc.aio.AioRpcError:
                    self.set_upstream_busy(False)  # an engine that is away serves nobody
                await asyncio.sleep(interval)
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    def wrap_handler(self, method: str, handler: grpc.RpcMethodHandler | None
                     ) -> grpc.RpcMethodHandler | None:
        """``handler`` whose calls count as in flight while they run (user methods only)."""
        if handler is None or method.rsplit("/", 1)[-1] not in self.methods:
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(handler.unary_stream))
        return handler

    def _unary(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.begin()
            try:
                return await behaviour(request, context)
            finally:
                self.end()

        return counted

    def _stream(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(request: Any, context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[Any]:
            self.begin()
            try:
                result = behaviour(request, context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                else:
                    await result
            finally:
                self.end()

        return counted


class _CountingHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are counted."""

    def __init__(self, inner: grpc.GenericRpcHandler, activity: InferenceActivity) -> None:
        self._inner = inner
        self._activity = activity

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        return self._activity.wrap_handler(handler_call_details.method,
                                           self._inner.service(handler_call_details))


class _CountingServer:
    """The server as a registration sees it: handlers added through it are counted."""

    def __init__(self, server: grpc.aio.Server, activity: InferenceActivity) -> None:
        self._server = server
        self._activity = activity

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_CountingHandler(h, self._activity) for h in handlers))

    def add_registered_method_handlers(self, service: str,
                                       handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self._server.add_registered_method_handlers(service, {
            name: self._activity.wrap_handler(name, handler)
            for name, handler in handlers.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
