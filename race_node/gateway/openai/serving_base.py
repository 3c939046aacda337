"""Errors in OpenAI's shape, with the status codes the official client's exception classes
expect, and the server-sent-event framing (SSE) of streamed answers.

Every refusal is decided before the first streamed byte: the relay forwards a request and
waits for the executor's first chunk before the gateway answers, so a bad key (401), an
unknown model (404), bad parameters or a prompt over the model's context (400), an
exhausted budget or rate limit (429, with ``Retry-After``) and the absence of a provider
(503) all come back as a plain HTTP error. What fails after that is sent in the stream as
an SSE event whose data is ``{"error": {...}}``, which the official client raises as an
``APIError``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from race_node.gateway.openai.protocol import MAX_CHOICES, MAX_STOP_SEQUENCES, SamplingFields
from race_protocol.gen.race.v1 import sidecar_pb2

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
# The k of top-k logprobs a sidecar records by default (docs/inference.md, ModelSpec).
DEFAULT_TOP_LOGPROBS = 5
Request = TypeVar("Request", bound=BaseModel)


class OpenAIError(Exception):
    """A refusal: HTTP status, OpenAI's error type and code, and extra headers."""

    def __init__(self, status: int, message: str, *, type: str = INVALID_REQUEST,
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.body(), headers=self.headers)


def bad_request(message: str, param: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code="invalid_value" if param else None)


# One encoder for every event: ``json.dumps`` with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"))
encode_json = _JSON.encode


def sse(data: dict[str, Any]) -> bytes:
    """One server-sent event carrying a JSON object."""
    return b"data: " + encode_json(data).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


class ChunkEvents:
    """The events of one streamed answer, ``{**base, "choices": [choice]}`` each: the
    fields every chunk repeats (id, object, created, model, ...) are encoded once per
    stream, not once per token. The bytes are those :func:`sse` gives for the same dict."""

    def __init__(self, base: dict[str, Any]) -> None:
        self._head = "data: " + encode_json(base)[:-1] + ',"choices":['

    def event(self, choice_json: str) -> str:
        """The event for one choice already encoded as JSON (not yet UTF-8)."""
        return self._head + choice_json + "]}\n\n"

    def choice(self, choice: dict[str, Any]) -> str:
        return self.event(encode_json(choice))


# --- what chat and legacy completions share -----------------------------------------------

def check_sampling(request: SamplingFields, max_tokens: int | None) -> None:
    """OpenAI's ranges, refused with 400 and the parameter's name."""
    n = 1 if request.n is None else request.n
    if not 1 <= n <= MAX_CHOICES:
        raise bad_request(f"n must be between 1 and {MAX_CHOICES}", "n")
    if request.temperature is not None and not 0.0 <= request.temperature <= 2.0:
        raise bad_request("temperature must be between 0 and 2", "temperature")
    if request.top_p is not None and not 0.0 < request.top_p <= 1.0:
        raise bad_request("top_p must be greater than 0 and at most 1", "top_p")
    if max_tokens is not None and max_tokens < 1:
        raise bad_request("max_tokens must be at least 1", "max_tokens")
    if request.seed is not None and not 0 <= request.seed < 2**63:
        raise bad_request("seed must be between 0 and 2^63 - 1", "seed")
    stops = stop_sequences(request)
    if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
        raise bad_request(f"stop takes at most {MAX_STOP_SEQUENCES} non-empty sequences",
                          "stop")


def stop_sequences(request: SamplingFields) -> list[str]:
    if request.stop is None:
        return []
    return [request.stop] if isinstance(request.stop, str) else list(request.stop)


def sampling_params(request: SamplingFields, max_tokens: int | None, wants_logprobs: bool,
                    top_logprobs: int) -> sidecar_pb2.SamplingParams:
    """The executor's sampling parameters. Top-k logprobs are always produced (a verifier
    replays them); more than the sidecar's default k is asked for only when the developer
    wants more."""
    params = sidecar_pb2.SamplingParams(stop=stop_sequences(request), logprobs=wants_logprobs)
    if request.temperature is not None:
        params.temperature = request.temperature
    if request.top_p is not None:
        params.top_p = request.top_p
    if max_tokens is not None:
        params.max_tokens = max_tokens
    if request.seed is not None:
        params.seed = request.seed
    if request.n is not None:
        params.n = request.n
    if top_logprobs > DEFAULT_TOP_LOGPROBS:
        params.top_logprobs = top_logprobs
    return params


def parse(model: type[Request], body: object) -> Request:
    """The request body as ``model``; 400 naming the first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        raise bad_request(f"{where}: {first.get('msg')}" if where else str(first.get("msg")),
                          where) from None


def mid_stream_error(message: str) -> bytes:
    return sse({"error": {"message": message, "type": SERVER_ERROR, "param": None,
                          "code": "executor_failed"}})
