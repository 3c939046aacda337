"""The agent's local status endpoint: ``GET /status`` (JSON) and ``GET /healthz``.

A deliberately small HTTP/1.1 server on asyncio streams: two read-only routes, one request
per connection, answers built from the agent's in-memory state. It binds to loopback
unless the operator explicitly allows otherwise (it has no authentication).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

MAX_REQUEST_HEAD_BYTES = 8192
READ_TIMEOUT_S = 5.0


class StatusServer:
    """Serves ``status()`` at ``/status`` and a liveness answer at ``/healthz``."""

    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]]) -> None:
        self.host = host
        self.port = port
        self._status = status
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  limit=MAX_REQUEST_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                request_line = (await reader.readline()).decode("latin-1")
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing here depends on them
            status, body = self._route(request_line)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError, ConnectionError):
            status, body = HTTPStatus.BAD_REQUEST, {"error": "bad request"}
        except Exception:  # a bug in a status field must not kill the endpoint
            log.exception("status endpoint failed")
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
        payload = json.dumps(body, indent=2, default=str).encode() + b"\n"
        head = (f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n").encode()
        with contextlib.suppress(ConnectionError):
            writer.write(head + payload)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    def _route(self, request_line: str) -> tuple[HTTPStatus, dict[str, Any]]:
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ValueError("not an HTTP request line")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if target not in ("/status", "/healthz"):
            return HTTPStatus.NOT_FOUND, {"error": f"no route {target}; try /status"}
        if method != "GET":
            return HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET is served"}
        if target == "/healthz":
            return HTTPStatus.OK, {"ok": True}
        return HTTPStatus.OK, self._status()
