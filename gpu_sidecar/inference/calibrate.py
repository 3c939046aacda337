"""Calibrate the replay thresholds of a model (docs/inference.md, "Calibration").

Serves the model twice in-process, at its own precision and at another one, then:

* honest: answers from the reference engine, generated one at a time and eight at a
  time, greedy and sampled, replayed on the reference engine;
* other precision: the same requests answered by the other-precision engine, replayed
  on the reference engine.

Prints the distance statistics of both sets and how many of each the current
thresholds accept, as one JSON object. A good threshold sits between the largest
honest distance and the smallest other-precision distance.

Usage: ``python -m gpu_sidecar.inference.calibrate [--model NAME=PATH] [--other-dtype bfloat16]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from dataclasses import replace
from typing import Any

from gpu_sidecar.inference.config import default_model_spec, parse_model_option
from gpu_sidecar.inference.engine import InferenceEngine
from gpu_sidecar.inference.servicer import InferenceEngineServicer
from race_protocol.gen.race.v1 import sidecar_pb2 as pb

QUESTIONS = (
    "What is the capital of France?",
    "Give me two tips for sleeping well.",
    "Explain what a prime number is.",
    "Write a haiku about the sea.",
    "Why do leaves change colour in autumn?",
    "How does a refrigerator keep food cold?",
    "Suggest a name for a bakery.",
    "What is the difference between weather and climate?",
)


def _requests(model: str, max_tokens: int) -> list[pb.GenerateRequest]:
    requests = []
    for question in QUESTIONS:
        chat = pb.ChatMessages(messages=[pb.ChatMessage(role="user", content=question)])
        requests.append(pb.GenerateRequest(model=model, chat=chat, sampling=pb.SamplingParams(
            temperature=0.0, max_tokens=max_tokens)))
        requests.append(pb.GenerateRequest(model=model, chat=chat, sampling=pb.SamplingParams(
            temperature=0.8, seed=3, max_tokens=max_tokens)))
    return requests


async def _answers(servicer: InferenceEngineServicer, requests: list[pb.GenerateRequest],
                   concurrency: int) -> list[tuple[pb.GenerateRequest, pb.Completion]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(request: pb.GenerateRequest) -> pb.Completion:
        async with gate:
            response = await servicer.Generate(request, None)  # type: ignore[arg-type]
            return response.choices[0]

    choices = await asyncio.gather(*(one(r) for r in requests))
    return list(zip(requests, choices, strict=True))


async def _verdicts(servicer: InferenceEngineServicer, reference: str,
                    answers: list[tuple[pb.GenerateRequest, pb.Completion]]) -> list[Any]:
    verdicts = []
    for request, choice in answers:
        replay = pb.ReplayRequest(model=reference, chat=request.chat, sampling=request.sampling,
                                  output_token_ids=choice.token_ids,
                                  output_logprobs=choice.logprobs,
                                  finish_reason=choice.finish_reason)
        verdicts.append(await servicer._replay(servicer.engine.model(reference), replay))
    return verdicts


def _summary(verdicts: list[Any]) -> dict[str, float]:
    means = [v.mean_distance for v in verdicts]
    worst = [v.max_position_distance for v in verdicts]
    return {
        "count": len(verdicts),
        "accepted": sum(v.accepted for v in verdicts),
        "mean_distance_min": min(means),
        "mean_distance_median": statistics.median(means),
        "mean_distance_max": max(means),
        "max_position_distance_min": min(worst),
        "max_position_distance_max": max(worst),
        "similarity_min": min(v.similarity for v in verdicts),
    }


async def calibrate(model_option: str | None, other_dtype: str, max_tokens: int) -> dict[str, Any]:
    reference = parse_model_option(model_option) if model_option else default_model_spec()
    other = replace(reference, name=f"{reference.name}@{other_dtype}", dtype=other_dtype)
    engine = InferenceEngine.start([reference, other])
    try:
        await engine.warm_up()
        servicer = InferenceEngineServicer(engine)
        honest = (await _answers(servicer, _requests(reference.name, max_tokens), 1)
                  + await _answers(servicer, _requests(reference.name, max_tokens), 8))
        foreign = await _answers(servicer, _requests(other.name, max_tokens), 8)
        honest_verdicts = await _verdicts(servicer, reference.name, honest)
        other_verdicts = await _verdicts(servicer, reference.name, foreign)
    finally:
        engine.shutdown()
    return {
        "model": reference.name,
        "dtype": reference.dtype,
        "other_dtype": other_dtype,
        "thresholds": {
            "replay_min_similarity": reference.replay_min_similarity,
            "replay_max_position_distance": reference.replay_max_position_distance,
        },
        "honest": _summary(honest_verdicts),
        "other_precision": _summary(other_verdicts),
        "other_precision_reasons": sorted({v.reason.split(":")[0] for v in other_verdicts
                                           if not v.accepted})[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="NAME=PATH[,key=value...]")
    parser.add_argument("--other-dtype", default="bfloat16")
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(calibrate(args.model, args.other_dtype, args.max_tokens))))


if __name__ == "__main__":
    main()
