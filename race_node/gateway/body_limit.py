"""A request body limit for the REST gateway, as plain ASGI middleware.

Neither uvicorn nor FastAPI bounds a request body: without this, one POST of a few
gigabytes is read into the gateway's memory before any route sees it. The limit holds for
a declared ``Content-Length`` (refused before one byte of the body is read) and for a
chunked body (refused as soon as the running total passes it). A refusal is a 413 in the
gateway's error shape, ``{"code", "codespace", "message"}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """Refuses, with 413, any HTTP request whose body is larger than ``max_bytes``.

    A body within the limit is read whole here (it is small by definition) and handed to
    the app unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"{declared} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body: nobody to answer
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send, f"more than {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: str) -> None:
        content = json.dumps({
            "code": 0, "codespace": "",
            "message": f"the request body is {size}; this gateway accepts at most "
                       f"{self.max_bytes} bytes (docs/gateway.md, \"Bounds\")",
        }).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})


def _content_length(scope: Scope) -> int | None:
    """The declared body length, or None when there is none (or it is not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
