"""Generation through the sidecar's gRPC service, on the real vLLM CPU engine."""

from __future__ import annotations

import pytest

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from tests.inference.conftest import SMOLLM2, greedy, user

CAPITAL = user("What is the capital of France? Answer in one sentence.")


async def collect_stream(stub, request: pb.GenerateRequest) -> tuple[dict[int, pb.Completion],
                                                                      pb.TokenUsage]:
    """Reassemble streamed chunks into one completion per choice."""
    choices: dict[int, pb.Completion] = {}
    usage = None
    async for chunk in stub.GenerateStream(request):
        if chunk.HasField("usage"):
            usage = chunk.usage
            continue
        choice = choices.setdefault(chunk.index, pb.Completion(index=chunk.index))
        choice.text += chunk.text
        choice.token_ids.extend(chunk.token_ids)
        choice.logprobs.extend(chunk.logprobs)
        if chunk.finish_reason:
            choice.finish_reason = chunk.finish_reason
            choice.stop_sequence = chunk.stop_sequence
    assert usage is not None, "the stream ended without usage"
    return choices, usage


async def test_stream_and_unary_return_the_same_text_at_temperature_zero(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=CAPITAL, sampling=greedy(24, seed=7))

    unary = await stub.Generate(request)
    streamed, usage = await collect_stream(stub, request)

    assert (streamed[0].text, list(streamed[0].token_ids), usage) == (
        unary.choices[0].text, list(unary.choices[0].token_ids), unary.usage)


async def test_usage_counts_equal_the_tokenizers_counts(stub, tokenizer) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    request = pb.GenerateRequest(model=SMOLLM2, chat=user("Name three colours."),
                                 sampling=greedy(20))

    response = await stub.Generate(request)

    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_tokens = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    choice = response.choices[0]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens,
            response.usage.total_tokens) == (
        prompt_tokens, len(choice.token_ids), prompt_tokens + len(choice.token_ids))
    assert tokenizer.decode(list(choice.token_ids), skip_special_tokens=True) == choice.text


async def test_the_chat_template_is_applied(stub, tokenizer) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=user("Say hi."), sampling=greedy(1))

    response = await stub.Generate(request)

    rendered = tokenizer.decode(list(response.prompt_token_ids))
    assert rendered.endswith("<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n")
    assert rendered.startswith("<|im_start|>system\n")


async def test_a_plain_prompt_is_used_as_is(stub, tokenizer) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, prompt="The sky is", sampling=greedy(4))

    response = await stub.Generate(request)

    assert list(response.prompt_token_ids) == tokenizer("The sky is")["input_ids"]


async def test_stop_sequences_end_the_answer_before_them(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=CAPITAL, sampling=greedy(24))
    full = (await stub.Generate(request)).choices[0].text
    stop_word = "Paris"
    assert stop_word in full, full

    request.sampling.stop.append(stop_word)
    stopped = (await stub.Generate(request)).choices[0]

    assert (stopped.text, stopped.finish_reason, stopped.stop_sequence) == (
        full[: full.index(stop_word)], "stop", stop_word)


async def test_max_tokens_caps_the_answer(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=user("Write a long story about a dragon."),
                                 sampling=greedy(5))

    choice = (await stub.Generate(request)).choices[0]

    assert (len(choice.token_ids), choice.finish_reason) == (5, "length")


async def test_top_logprobs_come_with_every_token(stub) -> None:
    request = pb.GenerateRequest(model=SMOLLM2, chat=CAPITAL, sampling=greedy(8))
    default_k = (await stub.Generate(request)).choices[0]
    request.sampling.top_logprobs = 3
    three = (await stub.Generate(request)).choices[0]

    assert [len(p.top) for p in default_k.logprobs] == [5] * len(default_k.token_ids)
    assert [len(p.top) for p in three.logprobs] == [3] * len(three.token_ids)
    for position in default_k.logprobs:
        values = [top.logprob for top in position.top]
        assert values == sorted(values, reverse=True)
        # greedy: the chosen token is the most likely one
        assert position.token_id == position.top[0].token_id


async def test_seeded_sampling_with_n_choices_is_reproducible(stub) -> None:
    request = pb.GenerateRequest(
        model=SMOLLM2, chat=user("Invent a name for a cat."),
        sampling=pb.SamplingParams(temperature=1.0, top_p=0.9, max_tokens=12, seed=1234, n=2))

    first = await stub.Generate(request)
    second = await stub.Generate(request)

    assert len(first.choices) == 2
    assert [c.text for c in first.choices] == [c.text for c in second.choices]
    assert first.usage.completion_tokens == sum(len(c.token_ids) for c in first.choices)


@pytest.mark.parametrize("top_logprobs", [0, 21])
async def test_top_logprobs_out_of_range_is_refused(stub, top_logprobs: int) -> None:
    import grpc

    request = pb.GenerateRequest(model=SMOLLM2, chat=CAPITAL,
                                 sampling=greedy(4, top_logprobs=top_logprobs))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Generate(request)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
