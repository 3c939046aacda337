"""The sidecar's gRPC server: hosts RaceEngine and InferenceEngine on one port.

Binds to loopback unless told otherwise (a provider exposes it deliberately), and
for remote deployment requires either a bearer token (``authorization: Bearer <t>``
metadata) or mutual TLS.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

DEFAULT_SIDECAR_ADDRESS = "127.0.0.1:50551"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SidecarSecurity:
    """How clients must authenticate: nothing (loopback), a bearer token, and/or mTLS."""

    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """mTLS credentials when a certificate is configured, else None (plaintext)."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        root = self.tls_client_ca.read_bytes() if self.tls_client_ca else None
        return grpc.ssl_server_credentials(
            [(self.tls_key.read_bytes(), self.tls_cert.read_bytes())],
            root_certificates=root,
            require_client_auth=root is not None,
        )


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls whose ``authorization`` metadata does not carry the shared token."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata or ())
        presented = str(metadata.get("authorization", "")).encode()
        if hmac.compare_digest(presented, self._expected):
            return await continuation(handler_call_details)
        return _unauthenticated_handler()


def _unauthenticated_handler() -> grpc.RpcMethodHandler:
    async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong sidecar token")

    return grpc.unary_unary_rpc_method_handler(deny)


@dataclass
class SidecarServer:
    """A grpc.aio server with the sidecar's services registered on it."""

    address: str = DEFAULT_SIDECAR_ADDRESS
    security: SidecarSecurity = field(default_factory=SidecarSecurity)
    registrations: list[Callable[[grpc.aio.Server], None]] = field(default_factory=list)
    server: grpc.aio.Server | None = None
    bound_port: int = 0

    async def start(self) -> int:
        """Start serving; returns the bound port (useful with ``:0``)."""
        interceptors = [BearerTokenInterceptor(self.security.token)] if self.security.token else []
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        for register in self.registrations:
            register(self.server)
        credentials = self.security.server_credentials()
        if credentials is None:
            self.bound_port = self.server.add_insecure_port(self.address)
        else:
            self.bound_port = self.server.add_secure_port(self.address, credentials)
        await self.server.start()
        return self.bound_port

    async def stop(self, grace_seconds: float) -> None:
        """Stop accepting calls and let running ones finish for ``grace_seconds``."""
        if self.server is not None:
            await self.server.stop(grace_seconds)
