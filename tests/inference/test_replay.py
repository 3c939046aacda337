"""The replay check on the real engine: honest outputs pass, others fail.

Honest outputs come from the sidecar itself, generated one at a time and eight at a
time (different batch shapes), greedy and sampled, and are replayed under concurrent
load too. Dishonest ones: another model's answers, a swapped token, a truncated answer
passed off as complete.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc
from tests.inference.conftest import (
    SMOLLM2,
    TINY,
    TINY_MAX_QUEUED_REQUESTS,
    Sidecar,
    replay_request,
    user,
)

QUESTIONS = (
    "What is the capital of France? Answer in one sentence.",
    "Give me two tips for sleeping well.",
    "Explain what a prime number is.",
    "Write a haiku about the sea.",
)
EOS_TOKEN_ID = 2  # <|im_end|>, SmolLM2's end of turn


@dataclass(frozen=True)
class Answer:
    request: pb.GenerateRequest
    choice: pb.Completion


def _requests(model: str) -> list[pb.GenerateRequest]:
    requests = []
    for question in QUESTIONS:
        requests.append(pb.GenerateRequest(model=model, chat=user(question),
                                           sampling=pb.SamplingParams(temperature=0.0,
                                                                      max_tokens=32)))
        requests.append(pb.GenerateRequest(model=model, chat=user(question),
                                           sampling=pb.SamplingParams(temperature=0.8, seed=11,
                                                                      max_tokens=32)))
    requests.append(pb.GenerateRequest(
        model=model, chat=user(QUESTIONS[0]),
        sampling=pb.SamplingParams(temperature=0.0, max_tokens=32, stop=["Paris"])))
    requests.append(pb.GenerateRequest(model=model, prompt="Once upon a time",
                                       sampling=pb.SamplingParams(temperature=0.7, seed=5,
                                                                  max_tokens=24)))
    return requests


def _generate(stub: pb_grpc.InferenceEngineStub, requests: list[pb.GenerateRequest],
              concurrency: int) -> list[Answer]:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        responses = list(pool.map(lambda r: stub.Generate(r, timeout=300), requests))
    return [Answer(request, response.choices[0]) for request, response in zip(
        requests, responses, strict=True)]


def _replay(stub: pb_grpc.InferenceEngineStub, replays: list[pb.ReplayRequest],
            concurrency: int = 4) -> list[pb.ReplayResponse]:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda r: stub.Replay(r, timeout=300), replays))


@pytest.fixture(scope="module")
def sync_stub(sidecar: Sidecar):
    with grpc.insecure_channel(sidecar.address) as channel:
        yield pb_grpc.InferenceEngineStub(channel)


@pytest.fixture(scope="module")
def honest(sync_stub) -> list[Answer]:
    """SmolLM2's own answers, generated alone and eight at a time."""
    requests = _requests(SMOLLM2)
    return _generate(sync_stub, requests, concurrency=1) + _generate(sync_stub, requests,
                                                                        concurrency=8)


def test_replay_accepts_every_honest_output(sync_stub, honest: list[Answer]) -> None:
    verdicts = _replay(sync_stub, [replay_request(a.request, a.choice) for a in honest])

    rejected = [(a.request.sampling, v.reason) for a, v in zip(honest, verdicts, strict=True)
                if not v.accepted]
    assert rejected == []
    assert {a.choice.finish_reason for a in honest} == {"stop", "length"}


def test_replay_rejects_another_models_outputs(sync_stub) -> None:
    requests = _requests(TINY)[:4]
    foreign = _generate(sync_stub, requests, concurrency=TINY_MAX_QUEUED_REQUESTS)

    verdicts = _replay(sync_stub, [replay_request(a.request, a.choice, model=SMOLLM2)
                                   for a in foreign])

    assert [v.accepted for v in verdicts] == [False] * len(foreign)


def test_smollm2_outputs_fail_replay_on_the_other_model(sync_stub, honest) -> None:
    verdicts = _replay(sync_stub, [replay_request(a.request, a.choice, model=TINY)
                                   for a in honest[:4]], concurrency=TINY_MAX_QUEUED_REQUESTS)

    assert [v.accepted for v in verdicts] == [False] * 4


def _swap(answer: Answer, position: int, new_token: int, fix_claim: bool) -> pb.ReplayRequest:
    replay = replay_request(answer.request, answer.choice)
    replay.output_token_ids[position] = new_token
    if fix_claim:
        # a careful forger also edits the logprob entry so it names the new token
        claim = replay.output_logprobs[position]
        claim.token_id = new_token
        claim.logprob = next((t.logprob for t in claim.top if t.token_id == new_token),
                             claim.top[-1].logprob)
    return replay


@pytest.mark.parametrize("fix_claim", [False, True])
def test_replay_rejects_a_swapped_token(sync_stub, honest: list[Answer], fix_claim: bool) -> None:
    long_answers = [a for a in honest if len(a.choice.token_ids) >= 16][:4]
    tampered = []
    for answer in long_answers:
        position = len(answer.choice.token_ids) // 2
        chosen = answer.choice.token_ids[position]
        runner_up = next(t.token_id for t in answer.choice.logprobs[position].top
                         if t.token_id != chosen)
        tampered.append(_swap(answer, position, runner_up, fix_claim))
        # a token from nowhere near the model's choices
        tampered.append(_swap(answer, position, 12345, fix_claim))

    verdicts = _replay(sync_stub, tampered)

    assert [v.accepted for v in verdicts] == [False] * len(tampered)


def test_replay_rejects_a_truncated_answer_passed_as_complete(sync_stub,
                                                              honest: list[Answer]) -> None:
    cut = [a for a in honest if a.choice.finish_reason == "length"][:4]
    tampered = []
    for answer in cut:
        half = len(answer.choice.token_ids) // 2
        short = replay_request(answer.request, answer.choice)
        del short.output_token_ids[half:]
        del short.output_logprobs[half:]
        short.finish_reason = "stop"
        tampered.append(short)
        # the same with an end-of-turn token appended and claimed as certain
        with_eos = pb.ReplayRequest()
        with_eos.CopyFrom(short)
        with_eos.output_token_ids.append(EOS_TOKEN_ID)
        with_eos.output_logprobs.append(pb.TokenLogprobs(
            token_id=EOS_TOKEN_ID, logprob=0.0,
            top=[pb.TopLogprob(token_id=EOS_TOKEN_ID, logprob=0.0)]))
        tampered.append(with_eos)

    verdicts = _replay(sync_stub, tampered)

    assert len(tampered) == 8
    assert [v.accepted for v in verdicts] == [False] * len(tampered)


def test_replay_reports_its_measure(sync_stub, honest: list[Answer]) -> None:
    answer = honest[0]

    verdict = sync_stub.Replay(replay_request(answer.request, answer.choice), timeout=120)

    assert verdict.accepted and verdict.reason == ""
    assert verdict.positions_checked == len(answer.choice.token_ids)
    assert verdict.threshold <= verdict.similarity <= 1.0
