"""The FastAPI wiring of the OpenAI-compatible API, mounted on the gateway's REST app.

``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models`` follow OpenAI's API; the
bearer token of the ``Authorization`` header is the API key's secret (it is hashed at
once, and neither it nor its hash is ever logged). ``/v1/race/draw`` shows the draw for a
request id on the gateway's current view, so anyone can check a ticket's executor.
Errors on these paths are OpenAI's error bodies; the chain routes keep theirs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from race_node.gateway.openai.relay import Relay
from race_node.gateway.openai.serving_base import OpenAIError, bad_request
from race_node.gateway.openai.serving_chat import ServingChat
from race_node.gateway.openai.serving_completion import ServingCompletion
from race_node.gateway.openai.serving_models import ServingModels
from race_protocol.inference.ticket import REQUEST_ID_BYTES

MAX_BODY_BYTES = 4 * 1024 * 1024


def bearer_secret(request: Request) -> str:
    """The API key from ``Authorization: Bearer <secret>``; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise OpenAIError(401, "You didn't provide an API key; send it as "
                          "'Authorization: Bearer <key>'", code="invalid_api_key")
    return secret.strip()


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise OpenAIError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the request body is not JSON") from None


@dataclass
class OpenAIGateway:
    """The relay and the handlers that share it."""

    relay: Relay
    extra_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    extra_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chat = ServingChat(self.relay)
        self.completion = ServingCompletion(self.relay)
        self.models = ServingModels(self.relay.view)

    async def start(self) -> None:
        await self.relay.start()
        for hook in self.extra_startup:
            await hook()

    async def close(self) -> None:
        for hook in self.extra_shutdown:
            await hook()
        await self.relay.close()


def openai_router(gateway: OpenAIGateway) -> APIRouter:
    router = APIRouter(tags=["openai"])

    async def answer(handler: Callable[[], Awaitable[Response | dict[str, Any]]]) -> Response:
        try:
            result = await handler()
        except OpenAIError as refusal:
            return refusal.response()
        return result if isinstance(result, Response) else JSONResponse(result)

    @router.post("/v1/chat/completions", summary="Chat completions (OpenAI)")
    async def chat_completions(request: Request) -> Response:
        async def run() -> Response:
            secret = bearer_secret(request)
            return await gateway.chat.create(await json_body(request), secret)
        return await answer(run)

    @router.post("/v1/completions", summary="Completions (OpenAI, legacy)")
    async def completions(request: Request) -> Response:
        async def run() -> Response:
            secret = bearer_secret(request)
            return await gateway.completion.create(await json_body(request), secret)
        return await answer(run)

    @router.get("/v1/models", summary="Models with a provider (OpenAI)")
    async def models() -> Response:
        return await answer(gateway.models.list)

    @router.get("/v1/race/draw", summary="The executor draw for a request id")
    async def draw(model: str,
                   request_id: Annotated[str, Query(description="hex, 16 bytes")],
                   attempt: Annotated[int, Query(ge=0, lt=2**32)] = 0) -> Response:
        async def run() -> dict[str, Any]:
            try:
                raw = bytes.fromhex(request_id)
            except ValueError:
                raise bad_request("request_id must be hex", "request_id") from None
            if len(raw) != REQUEST_ID_BYTES:
                raise bad_request(f"request_id must be {REQUEST_ID_BYTES} bytes",
                                  "request_id")
            return await gateway.relay.draw(model, raw, attempt)
        return await answer(run)

    return router


def mount_openai(app: FastAPI, gateway: OpenAIGateway) -> None:
    """Add the OpenAI routes to ``app`` and start and stop the relay with it."""
    app.include_router(openai_router(gateway))
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[Any]:
        async with original(running) as state:
            await gateway.start()
            try:
                yield state
            finally:
                await gateway.close()

    app.router.lifespan_context = lifespan
