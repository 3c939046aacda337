"""``POST /v1/chat/completions``: OpenAI's chat API, relayed to a drawn executor.

Chat messages are rendered by the executor's engine with the model's chat template;
``developer`` messages count as ``system`` ones. Streamed answers follow OpenAI's chunk
shape: a first delta with the assistant role, content deltas, each choice's last chunk
with its finish reason, and with ``stream_options.include_usage`` a last chunk with no
choices and the usage (every other chunk then carries ``"usage": null``).
``logprobs``/``top_logprobs`` (up to 20) come in OpenAI's ``logprobs.content`` form.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from race_node.gateway.openai.protocol import (
    MAX_TOP_LOGPROBS,
    ChatCompletionRequest,
    ChatMessage,
    completion_id,
    finite,
    now,
    token_bytes,
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
from race_protocol.gen.race.v1 import sidecar_pb2

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def message_text(index: int, message: ChatMessage) -> tuple[str, str]:
    role = ROLES.get(message.role)
    if role is None:
        raise bad_request(f"messages[{index}].role {message.role!r} is not served; use "
                          "system, developer, user or assistant", f"messages[{index}].role")
    content = message.content
    if content is None:
        return role, ""
    if isinstance(content, str):
        return role, content
    texts = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise bad_request(f"messages[{index}]: only text content parts are served",
                              f"messages[{index}].content")
        texts.append(part.text)
    return role, "".join(texts)


def logprob_entries(chunk_logprobs: Any, k: int) -> list[dict[str, Any]]:
    """OpenAI's ``logprobs.content`` entries for a chunk's tokens, each with its top k."""
    return [{
        "token": entry.token, "logprob": finite(entry.logprob), "bytes": token_bytes(entry.token),
        "top_logprobs": [{"token": top.token, "logprob": finite(top.logprob),
                          "bytes": token_bytes(top.token)} for top in entry.top[:k]],
    } for entry in chunk_logprobs]


class ServingChat:
    """The chat completions handler."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def create(self, body: object, secret: str) -> Response:
        request = parse(ChatCompletionRequest, body)
        if request.tools:
            raise bad_request("tools are not served by this network", "tools")
        if request.response_format and request.response_format.get("type") not in (None, "text"):
            raise bad_request("only the text response format is served", "response_format")
        max_tokens = request.max_completion_tokens or request.max_tokens
        check_sampling(request, max_tokens)
        top_k = 0
        if request.top_logprobs is not None:
            if not request.logprobs:
                raise bad_request("top_logprobs needs logprobs set to true", "top_logprobs")
            if not 0 <= request.top_logprobs <= MAX_TOP_LOGPROBS:
                raise bad_request(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}",
                                  "top_logprobs")
            top_k = request.top_logprobs
        generate = sidecar_pb2.GenerateRequest(
            model=request.model,
            chat=sidecar_pb2.ChatMessages(messages=[
                sidecar_pb2.ChatMessage(role=role, content=content)
                for role, content in (message_text(i, m)
                                      for i, m in enumerate(request.messages))]),
            sampling=sampling_params(request, max_tokens, bool(request.logprobs), top_k))
        relayed = await self.relay.open(secret, generate, max_tokens, request.n or 1)
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            return StreamingResponse(
                self._stream(relayed, request, top_k, include_usage),
                media_type="text/event-stream",
                headers={**STREAM_HEADERS, **relayed.headers()})
        return await self._whole(relayed, request, top_k)

    async def _stream(self, relayed: Relayed, request: ChatCompletionRequest, top_k: int,
                      include_usage: bool) -> AsyncIterator[bytes]:
        base: dict[str, Any] = {"id": completion_id("chatcmpl"),
                                "object": "chat.completion.chunk", "created": now(),
                                "model": request.model, "system_fingerprint": None}
        if include_usage:
            base["usage"] = None
        events = ChunkEvents(base)
        wants_logprobs = bool(request.logprobs)
        started: set[int] = set()
        try:
            async for chunk in relayed.chunks():
                # The events of one executor chunk go out in one write.
                out: list[str] = []
                text, index, finish = chunk.text, chunk.index, chunk.finish_reason
                if text or finish or chunk.token_ids:
                    if index not in started:
                        started.add(index)
                        out.append(events.event(
                            f'{{"index":{index},"delta":{{"role":"assistant","content":""}},'
                            '"logprobs":null,"finish_reason":null}'))
                    if text and not finish and not (wants_logprobs and chunk.logprobs):
                        # The common case, a token of text: no dict, no generic encoder.
                        out.append(events.event(
                            f'{{"index":{index},"delta":{{"content":{encode_json(text)}}},'
                            '"logprobs":null,"finish_reason":null}'))
                    else:
                        logprobs = ({"content": logprob_entries(chunk.logprobs, top_k)}
                                    if wants_logprobs and chunk.logprobs else None)
                        out.append(events.choice({
                            "index": index, "delta": {"content": text} if text else {},
                            "logprobs": logprobs, "finish_reason": finish or None}))
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

    async def _whole(self, relayed: Relayed, request: ChatCompletionRequest,
                     top_k: int) -> JSONResponse:
        texts: dict[int, list[str]] = {}
        entries: dict[int, list[dict[str, Any]]] = {}
        finish: dict[int, str] = {}
        counted = sidecar_pb2.TokenUsage()
        try:
            async for chunk in relayed.chunks():
                texts.setdefault(chunk.index, []).append(chunk.text)
                if request.logprobs:
                    entries.setdefault(chunk.index, []).extend(
                        logprob_entries(chunk.logprobs, top_k))
                if chunk.finish_reason:
                    finish[chunk.index] = chunk.finish_reason
                if chunk.HasField("usage"):
                    counted = chunk.usage
        except MidStreamError as failure:
            raise OpenAIError(502, str(failure), type="server_error",
                              code="executor_failed") from failure
        choices = [{
            "index": index,
            "message": {"role": "assistant", "content": "".join(texts[index])},
            "logprobs": {"content": entries.get(index, [])} if request.logprobs else None,
            "finish_reason": finish.get(index, "stop"),
        } for index in sorted(texts)]
        return JSONResponse({
            "id": completion_id("chatcmpl"), "object": "chat.completion", "created": now(),
            "model": request.model, "system_fingerprint": None, "choices": choices,
            "usage": usage(counted.prompt_tokens, counted.completion_tokens)},
            headers=relayed.headers())
