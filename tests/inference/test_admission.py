"""Bad input, queue limits and cancellation: clear gRPC errors, and the engine keeps serving."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from tests.inference.conftest import (
    SMOLLM2,
    SMOLLM2_MAX_PROMPT_TOKENS,
    TINY,
    TINY_MAX_QUEUED_REQUESTS,
    greedy,
    user,
)


async def still_serves(stub) -> bool:
    response = await stub.Generate(pb.GenerateRequest(model=SMOLLM2, chat=user("Hi"),
                                                      sampling=greedy(2)))
    return len(response.choices[0].token_ids) > 0


async def refusal(stub, request: pb.GenerateRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Generate(request)
    return refused.value


async def test_an_unknown_model_is_not_found(stub) -> None:
    error = await refusal(stub, pb.GenerateRequest(model="gpt-17", chat=user("Hi"),
                                                   sampling=greedy(2)))

    assert (error.code(), "gpt-17" in error.details()) == (grpc.StatusCode.NOT_FOUND, True)
    assert await still_serves(stub)


async def test_negative_max_tokens_is_invalid(stub) -> None:
    error = await refusal(stub, pb.GenerateRequest(model=SMOLLM2, chat=user("Hi"),
                                                   sampling=greedy(-3)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_tokens must be >= 1" in error.details()
    assert await still_serves(stub)


async def test_a_prompt_over_the_limit_is_invalid(stub) -> None:
    long_prompt = "word " * (SMOLLM2_MAX_PROMPT_TOKENS + 50)

    error = await refusal(stub, pb.GenerateRequest(model=SMOLLM2, prompt=long_prompt,
                                                   sampling=greedy(2)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"limit of {SMOLLM2_MAX_PROMPT_TOKENS}" in error.details()
    assert await still_serves(stub)


@pytest.mark.parametrize(("sampling", "mentions"), [
    (pb.SamplingParams(temperature=-1.0, max_tokens=2), "temperature"),
    (pb.SamplingParams(top_p=0.0, max_tokens=2), "top_p"),
    (pb.SamplingParams(n=0, max_tokens=2), "n must be"),
    (pb.SamplingParams(max_tokens=100_000), "max_tokens"),
    (pb.SamplingParams(max_tokens=2, stop=["a", "b", "c", "d", "e"]), "stop"),
])
async def test_out_of_range_sampling_is_invalid(stub, sampling, mentions: str) -> None:
    error = await refusal(stub, pb.GenerateRequest(model=SMOLLM2, chat=user("Hi"),
                                                   sampling=sampling))

    assert (error.code(), mentions in error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, True)


async def test_a_request_without_input_is_invalid(stub) -> None:
    error = await refusal(stub, pb.GenerateRequest(model=SMOLLM2, sampling=greedy(2)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _health(stub, model: str) -> pb.ModelLoad:
    health = await stub.Health(pb.InferenceHealthRequest())
    return next(load for load in health.models if load.model == model)


async def _wait_idle(stub, model: str, timeout_s: float = 20.0) -> pb.ModelLoad:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        load = await _health(stub, model)
        idle = load.admitted_requests == 0 and load.running_requests == 0 \
            and load.waiting_requests == 0
        if idle or asyncio.get_running_loop().time() > deadline:
            return load
        await asyncio.sleep(0.2)


async def test_a_full_queue_is_resource_exhausted(stub) -> None:
    long_answer = pb.GenerateRequest(model=TINY, prompt="Once upon a time",
                                     sampling=pb.SamplingParams(temperature=1.0, max_tokens=500))
    streams = [stub.GenerateStream(long_answer) for _ in range(TINY_MAX_QUEUED_REQUESTS)]
    for stream in streams:
        await stream.read()  # admitted and producing tokens

    error = await refusal(stub, long_answer)
    for stream in streams:
        stream.cancel()

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue limit" in error.details()
    assert (await _wait_idle(stub, TINY)).admitted_requests == 0


async def test_cancelling_a_stream_frees_the_request(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=user("Write a long story about a dragon."),
                                 sampling=pb.SamplingParams(temperature=0.8, max_tokens=256))
    stream = stub.GenerateStream(request)
    await stream.read()
    busy = await _health(stub, SMOLLM2)

    stream.cancel()
    idle = await _wait_idle(stub, SMOLLM2)

    assert busy.admitted_requests == 1 and busy.running_requests + busy.waiting_requests == 1
    assert (idle.admitted_requests, idle.running_requests, idle.waiting_requests) == (0, 0, 0)
    assert await still_serves(stub)


async def test_models_are_listed_with_their_limits(stub) -> None:
    listed = await stub.ListModels(pb.ListModelsRequest())

    by_name = {model.name: model for model in listed.models}
    assert sorted(by_name) == sorted([SMOLLM2, TINY])
    assert by_name[SMOLLM2].max_prompt_tokens == SMOLLM2_MAX_PROMPT_TOKENS
    assert by_name[TINY].max_queued_requests == TINY_MAX_QUEUED_REQUESTS
    assert by_name[SMOLLM2].default_top_logprobs == 5


async def test_health_reports_load_while_a_request_runs(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=user("Count from one to fifty."),
                                 sampling=greedy(64))
    stream = stub.GenerateStream(request)
    await stream.read()

    busy = await _health(stub, SMOLLM2)
    stream.cancel()

    assert busy.healthy and busy.running_requests == 1
    assert 0.0 < busy.kv_cache_usage <= 1.0
