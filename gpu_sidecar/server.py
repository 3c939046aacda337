"""The sidecar's gRPC server: hosts RaceEngine and InferenceEngine on one port.

Binds to loopback unless told otherwise (a provider exposes it deliberately). Off
loopback it serves only over TLS (a certificate and its key), and clients must
authenticate with a bearer token (``authorization: Bearer <t>`` metadata), a client
certificate (mutual TLS), or both: a token sent over plaintext can be read, and replayed,
by anyone on the path (docs/inference.md, "Security").
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

DEFAULT_SIDECAR_ADDRESS = "127.0.0.1:50551"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class SidecarSecurityError(ValueError):
    """The bind address and the credentials, together, would leave the sidecar exposed."""


def address_host(address: str) -> str:
    """The host part of ``HOST:PORT`` (IPv6 in brackets or not)."""
    return address.rsplit(":", 1)[0].strip("[]")


def is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` can only be reached from this machine (127.0.0.0/8, ::1,
    ``localhost``); any other name may resolve to a network address."""
    host = address_host(address)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SidecarSecurity:
    """How clients must authenticate: nothing (loopback), a bearer token, and/or mTLS.

    ``token`` is a secret: it is never part of the repr, and never logged.
    """

    token: str | None = field(default=None, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    def check(self, address: str, token_env: str = "RACE_SIDECAR_TOKEN") -> None:
        """Refuse settings under which the port would not be what they promise.

        - ``tls_cert`` and ``tls_key`` go together, and a client CA is only used by a TLS
          port: a CA alone would leave the port plaintext and ask for no client
          certificate.
        - Off loopback, the port must be TLS (a bearer token over plaintext travels in
          the clear) and every client must authenticate (a token, a client certificate,
          or both).

        ``token_env`` names the variable the token comes from, for the error message.
        """
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SidecarSecurityError("--tls-cert and --tls-key go together")
        tls = self.tls_cert is not None
        if self.tls_client_ca is not None and not tls:
            raise SidecarSecurityError(
                "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first, "
                "and without a server certificate the port would serve plaintext and ask "
                "for no client certificate")
        if is_loopback(address):
            return
        if not tls and self.token is not None:
            raise SidecarSecurityError(
                f"{address} is not loopback and the bearer token (${token_env}) would "
                "travel in cleartext: give --tls-cert and --tls-key so the port serves TLS")
        if not tls:
            raise SidecarSecurityError(
                f"{address} is not loopback: give --tls-cert and --tls-key (TLS), and a "
                f"bearer token (${token_env}) or --tls-client-ca (mutual TLS) so clients "
                "must authenticate")
        if self.token is None and self.tls_client_ca is None:
            raise SidecarSecurityError(
                f"{address} is not loopback and nothing authenticates clients: set a "
                f"bearer token (${token_env}) or give --tls-client-ca (mutual TLS)")

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS credentials when a certificate is configured (asking for client
        certificates when a client CA is), else None (plaintext)."""
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
        """Start serving; returns the bound port (useful with ``:0``).

        Raises SidecarSecurityError, before binding, when the address and the credentials
        would leave the port exposed (:meth:`SidecarSecurity.check`).
        """
        self.security.check(self.address)
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
