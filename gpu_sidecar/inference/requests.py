"""Checking a generation request before it reaches the engine.

Every rejection raises one named error that the gRPC layer maps to a status code;
a rejected request changes nothing in the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gpu_sidecar.inference.config import (
    MAX_CHOICES,
    MAX_STOP_SEQUENCES,
    MAX_TOP_LOGPROBS,
    ModelSpec,
)


class InferenceError(Exception):
    """Base of the errors a request can meet; ``str(error)`` is safe to show a client."""


class UnknownModel(InferenceError):
    """The request names a model this sidecar does not serve (NOT_FOUND)."""


class InvalidRequest(InferenceError):
    """The request is malformed or over a model limit (INVALID_ARGUMENT)."""


class Overloaded(InferenceError):
    """The model's queue is full (RESOURCE_EXHAUSTED); the caller retries elsewhere."""


class Draining(InferenceError):
    """The sidecar is shutting down and admits nothing new (UNAVAILABLE)."""


ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Sampling:
    """OpenAI sampling parameters after defaults and limits are applied."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1
    top_logprobs: int = 5
    wants_logprobs: bool = False


@dataclass(frozen=True)
class RequestedSampling:
    """Sampling parameters as the client sent them (None = unset)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None
    n: int | None = None
    top_logprobs: int | None = None
    wants_logprobs: bool = False


def check_messages(messages: list[tuple[str, str]]) -> None:
    """Chat messages need at least one entry and known roles."""
    if not messages:
        raise InvalidRequest("chat needs at least one message")
    for index, (role, _content) in enumerate(messages):
        if role not in ROLES:
            raise InvalidRequest(
                f"message {index}: role {role!r} is not one of {', '.join(ROLES)}"
            )


def resolve_sampling(requested: RequestedSampling, spec: ModelSpec, prompt_tokens: int) -> Sampling:
    """Apply OpenAI's defaults and the model's limits to the requested parameters."""
    if prompt_tokens > spec.max_prompt_tokens:
        raise InvalidRequest(
            f"prompt is {prompt_tokens} tokens, over model {spec.name!r}'s limit of "
            f"{spec.max_prompt_tokens}"
        )
    if prompt_tokens == 0:
        raise InvalidRequest("prompt is empty")
    temperature = 1.0 if requested.temperature is None else requested.temperature
    if not math.isfinite(temperature) or not 0.0 <= temperature <= 2.0:
        raise InvalidRequest(f"temperature must be in [0, 2], got {temperature}")
    top_p = 1.0 if requested.top_p is None else requested.top_p
    if not math.isfinite(top_p) or not 0.0 < top_p <= 1.0:
        raise InvalidRequest(f"top_p must be in (0, 1], got {top_p}")
    room = spec.max_model_len - prompt_tokens
    if requested.max_tokens is None:
        max_tokens = min(spec.max_output_tokens, room)
    else:
        max_tokens = requested.max_tokens
        if max_tokens < 1:
            raise InvalidRequest(f"max_tokens must be >= 1, got {max_tokens}")
        if max_tokens > spec.max_output_tokens:
            raise InvalidRequest(
                f"max_tokens {max_tokens} is over model {spec.name!r}'s limit of "
                f"{spec.max_output_tokens}"
            )
        if max_tokens > room:
            raise InvalidRequest(
                f"prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds "
                f"the context length {spec.max_model_len}"
            )
    stop = tuple(requested.stop)
    if len(stop) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(f"at most {MAX_STOP_SEQUENCES} stop sequences, got {len(stop)}")
    if any(not s for s in stop):
        raise InvalidRequest("stop sequences must be non-empty")
    n = 1 if requested.n is None else requested.n
    if not 1 <= n <= MAX_CHOICES:
        raise InvalidRequest(f"n must be in 1..{MAX_CHOICES}, got {n}")
    top_logprobs = (
        spec.default_top_logprobs if requested.top_logprobs is None else requested.top_logprobs
    )
    if not 1 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise InvalidRequest(f"top_logprobs must be in 1..{MAX_TOP_LOGPROBS}, got {top_logprobs}")
    seed = requested.seed
    if seed is not None and not 0 <= seed < 2**63:
        raise InvalidRequest(f"seed must be in [0, 2^63), got {seed}")
    return Sampling(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=stop,
        seed=seed,
        n=n,
        top_logprobs=top_logprobs,
        wants_logprobs=requested.wants_logprobs,
    )
