"""OpenAI's wire types for the requests the gateway accepts (pydantic), and the shapes of its
answers (built as plain dicts, serialized once per chunk).

Unknown request fields are ignored, as OpenAI's clients send fields a server may not know
(``user``, ``metadata``, ...); fields the network cannot honour are refused with 400
rather than silently ignored (``echo``, ``suffix``, token-array prompts, tools).
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_STOP_SEQUENCES = 4
MAX_CHOICES = 8
MAX_TOP_LOGPROBS = 20
MAX_LEGACY_LOGPROBS = 5
# JSON has no -infinity: a token the model gives no chance is reported at this logprob.
FLOOR_LOGPROB = -9999.0


class TextPart(BaseModel):
    """One part of a multi-part message; only text parts are served."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[TextPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class SamplingFields(BaseModel):
    """What chat and legacy completions share."""

    model_config = ConfigDict(extra="allow")
    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


class ChatCompletionRequest(SamplingFields):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = None
    tools: list[Any] | None = None
    response_format: dict[str, Any] | None = None


class CompletionRequest(SamplingFields):
    """``POST /v1/completions`` (legacy). ``max_tokens`` defaults to 16, as OpenAI's does."""

    prompt: str | list[str]
    logprobs: int | None = None
    echo: bool | None = False
    suffix: str | None = None


def completion_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def finite(logprob: float) -> float:
    return logprob if math.isfinite(logprob) else FLOOR_LOGPROB


def token_bytes(token: str) -> list[int]:
    return list(token.encode("utf-8"))


FinishReason = Literal["stop", "length"]
