"""``POST /v1/completions``: OpenAI's legacy completions API, relayed to a drawn executor.

A prompt is one string (a list holding one string is accepted too); ``echo``, ``suffix``
and token-array prompts are refused. ``logprobs`` (0 to 5) come in the legacy form:
``tokens``, ``token_logprobs``, ``top_logprobs`` (a token -> logprob map per position)
and ``text_offset``. ``max_tokens`` defaults to 16, as OpenAI's does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from race_node.gateway.openai.protocol import (
    MAX_LEGACY_LOGPROBS,
    CompletionRequest,
    completion_id,
    finite,
    now,
    usage,
)
from race_node.gateway.openai.relay import MidStreamError, Relay, Relayed
from race_node.gateway.openai.serving_base import (
    SSE_DONE,
    ChunkEvents,
    OpenAIError,
    bad_request,
    check_sampling,
    encode_json,
    mid_stream_error,
    parse,
    sampling_params,
    sse,
)
from race_node.gateway.openai.serving_chat import STREAM_HEADERS
from race_protocol.gen.race.v1 import sidecar_pb2

LEGACY_DEFAULT_MAX_TOKENS = 16


class LegacyLogprobs:
    """One choice's legacy logprobs, built up chunk by chunk."""

    def __init__(self, k: int, offset: int = 0) -> None:
        self.k = k
        self.offset = offset
        self.tokens: list[str] = []
        self.token_logprobs: list[float] = []
        self.top_logprobs: list[dict[str, float]] = []
        self.text_offset: list[int] = []

    def add(self, chunk_logprobs: Any) -> dict[str, Any]:
        """Record a chunk's tokens; returns just that chunk's part (for streaming)."""
        part = LegacyLogprobs(self.k, self.offset)
        for entry in chunk_logprobs:
            for target in (self, part):
                target.tokens.append(entry.token)
                target.token_logprobs.append(finite(entry.logprob))
                target.top_logprobs.append({top.token: finite(top.logprob)
                                            for top in entry.top[:self.k]})
                target.text_offset.append(self.offset)
            self.offset += len(entry.token)
        return part.as_json()

    def as_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs,
                "top_logprobs": self.top_logprobs, "text_offset": self.text_offset}


class ServingCompletion:
    """The legacy completions handler."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def create(self, body: object, secret: str) -> Response:
        request = parse(CompletionRequest, body)
        prompt = request.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise bad_request("this network takes one prompt per request", "prompt")
            prompt = prompt[0]
        if request.echo:
            raise bad_request("echo is not served by this network", "echo")
        if request.suffix:
            raise bad_request("suffix is not served by this network", "suffix")
        max_tokens = (LEGACY_DEFAULT_MAX_TOKENS if request.max_tokens is None
                      else request.max_tokens)
        check_sampling(request, max_tokens)
        k = request.logprobs
        if k is not None and not 0 <= k <= MAX_LEGACY_LOGPROBS:
            raise bad_request(f"logprobs must be between 0 and {MAX_LEGACY_LOGPROBS}",
                              "logprobs")
        generate = sidecar_pb2.GenerateRequest(
            model=request.model, prompt=prompt,
            sampling=sampling_params(request, max_tokens, k is not None, k or 0))
        relayed = await self.relay.open(secret, generate, max_tokens, request.n or 1)
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            return StreamingResponse(self._stream(relayed, request, k, include_usage),
                                     media_type="text/event-stream",
                                     headers={**STREAM_HEADERS, **relayed.headers()})
        return await self._whole(relayed, request, k)

    async def _stream(self, relayed: Relayed, request: CompletionRequest, k: int | None,
                      include_usage: bool) -> AsyncIterator[bytes]:
        base: dict[str, Any] = {"id": completion_id("cmpl"), "object": "text_completion",
                                "created": now(), "model": request.model,
                                "system_fingerprint": None}
        if include_usage:
            base["usage"] = None
        events = ChunkEvents(base)
        logprobs: dict[int, LegacyLogprobs] = {}
        try:
            async for chunk in relayed.chunks():
                out: list[str] = []
                text, index, finish = chunk.text, chunk.index, chunk.finish_reason
                if chunk.token_ids or finish or text:
                    if k is None and not finish:
                        # The common case, a token of text: no dict, no generic encoder.
                        out.append(events.event(
                            f'{{"text":{encode_json(text)},"index":{index},'
                            '"logprobs":null,"finish_reason":null}'))
                    else:
                        part = None
                        if k is not None:
                            part = logprobs.setdefault(index, LegacyLogprobs(k)).add(
                                chunk.logprobs)
                        out.append(events.choice({"text": text, "index": index,
                                                  "logprobs": part,
                                                  "finish_reason": finish or None}))
                if include_usage and chunk.HasField("usage"):
                    out.append(sse({**base, "choices": [], "usage": usage(
                        chunk.usage.prompt_tokens, chunk.usage.completion_tokens)}).decode())
                if out:
                    yield "".join(out).encode()
            yield SSE_DONE
        except MidStreamError as failure:
            yield mid_stream_error(str(failure))
        finally:
            relayed.close()

    async def _whole(self, relayed: Relayed, request: CompletionRequest,
                     k: int | None) -> JSONResponse:
        texts: dict[int, list[str]] = {}
        logprobs: dict[int, LegacyLogprobs] = {}
        finish: dict[int, str] = {}
        counted = sidecar_pb2.TokenUsage()
        try:
            async for chunk in relayed.chunks():
                texts.setdefault(chunk.index, []).append(chunk.text)
                if k is not None:
                    logprobs.setdefault(chunk.index, LegacyLogprobs(k)).add(chunk.logprobs)
                if chunk.finish_reason:
                    finish[chunk.index] = chunk.finish_reason
                if chunk.HasField("usage"):
                    counted = chunk.usage
        except MidStreamError as failure:
            raise OpenAIError(502, str(failure), type="server_error",
                              code="executor_failed") from failure
        choices = [{
            "text": "".join(texts[index]), "index": index,
            "logprobs": logprobs[index].as_json() if index in logprobs else None,
            "finish_reason": finish.get(index, "stop"),
        } for index in sorted(texts)]
        return JSONResponse({
            "id": completion_id("cmpl"), "object": "text_completion", "created": now(),
            "model": request.model, "system_fingerprint": None, "choices": choices,
            "usage": usage(counted.prompt_tokens, counted.completion_tokens)},
            headers=relayed.headers())
