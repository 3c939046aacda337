"""Inference benchmark: the sidecar's gRPC path against vLLM called in-process.

Same model, same prompts, same concurrency, same run. Both engines are up at once
(the in-process one here, the sidecar as its own ``race sidecar serve`` process) and
the rounds alternate direct, sidecar, direct, sidecar..., so the machine's noise falls
on both alike. Both ask the engine for the same thing: greedy tokens with the top-5
logprobs the sidecar always records.

Measures
* throughput: output tokens per second over a round of ``--requests`` streamed
  requests at ``--concurrency``; ``throughput_ratio`` = sidecar / direct (target >= 0.95);
* TTFT: time to the first token of a request sent alone, paired direct/sidecar on the
  same prompt (which goes first alternates); ``ttft_added_ms_p50`` is the median of
  the differences (target <= 5 ms); the sidecar's side includes rendering the chat
  template, which the direct side did beforehand;
  the same under load is reported as ``ttft_added_ms_p50_under_load``;
* replay cost: the Replay call's time over the time to generate the same output alone,
  median over answers (target <= 0.1).

Prints one JSON object as its last line. ``--quick`` finishes within 15 minutes on a
2-core CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

QUESTIONS = (
    "What is the capital of France?",
    "Give me three tips for learning to cook.",
    "Explain photosynthesis to a child.",
    "Write a short poem about autumn.",
    "What are the benefits of regular exercise?",
    "Describe how a bicycle works.",
    "Why is the sky blue?",
    "List some fun things to do on a rainy day.",
    "How do I make a cup of tea?",
    "What is a black hole?",
    "Suggest a name for a friendly robot.",
    "Summarise the plot of Cinderella.",
    "What should I pack for a beach holiday?",
    "Explain what a computer program is.",
    "Tell me a fact about elephants.",
    "How can I save money on groceries?",
)
TOP_LOGPROBS = 5


@dataclass
class Round:
    """One workload round: tokens, wall time and per-request TTFTs (seconds)."""

    tokens: int = 0
    seconds: float = 0.0
    ttfts: list[float] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sampling(max_tokens: int):  # noqa: ANN202 - vllm.SamplingParams
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=TOP_LOGPROBS,
                          output_kind=RequestOutputKind.DELTA)


async def direct_request(engine, prompt_ids: list[int], max_tokens: int) -> tuple[int, float]:
    """One streamed request straight into vLLM's AsyncLLM: (tokens, ttft)."""
    from vllm.inputs import TokensPrompt

    started = time.perf_counter()
    ttft = 0.0
    tokens = 0
    async for output in engine.generate(TokensPrompt(prompt_token_ids=prompt_ids),
                                        _sampling(max_tokens), uuid.uuid4().hex):
        produced = len(output.outputs[0].token_ids)
        if produced and not tokens:
            ttft = time.perf_counter() - started
        tokens += produced
    return tokens, ttft


async def sidecar_request(stub, model: str, question: str, max_tokens: int) -> tuple[int, float]:
    """The same request through the sidecar's GenerateStream: (tokens, ttft)."""
    from race_protocol.gen.race.v1 import sidecar_pb2 as pb

    request = pb.GenerateRequest(
        model=model,
        chat=pb.ChatMessages(messages=[pb.ChatMessage(role="user", content=question)]),
        sampling=pb.SamplingParams(temperature=0.0, max_tokens=max_tokens,
                                   top_logprobs=TOP_LOGPROBS))
    started = time.perf_counter()
    ttft = 0.0
    tokens = 0
    async for chunk in stub.GenerateStream(request):
        if chunk.token_ids and not tokens:
            ttft = time.perf_counter() - started
        tokens += len(chunk.token_ids)
    return tokens, ttft


async def run_round(one, questions: list[str], concurrency: int) -> Round:
    """Send every question with at most ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)
    result = Round()

    async def guarded(question: str) -> tuple[int, float]:
        async with gate:
            return await one(question)

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(guarded(q) for q in questions))
    result.seconds = time.perf_counter() - started
    result.tokens = sum(tokens for tokens, _ in outcomes)
    result.ttfts = [ttft for _, ttft in outcomes]
    return result


def start_sidecar(model_arg: str, address: str, log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gpu_sidecar.cli", "serve", "--no-race",
               "--address", address, "--model", model_arg]
    with log_path.open("wb") as log_file:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file,
                                stderr=subprocess.STDOUT)


async def wait_serving(stub, process: subprocess.Popen[bytes], log_path: Path) -> None:
    import grpc

    from race_protocol.gen.race.v1 import sidecar_pb2 as pb

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sidecar exited:\n{log_path.read_text()[-3000:]}")
        try:
            if (await stub.Health(pb.InferenceHealthRequest(), timeout=2)).serving:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(1.0)
    raise SystemExit("the sidecar did not start")


async def replay_costs(stub, model: str, questions: list[str], max_tokens: int) -> list[float]:
    """Replay time over generation time for answers generated and replayed alone."""
    from race_protocol.gen.race.v1 import sidecar_pb2 as pb

    ratios = []
    for question in questions:
        request = pb.GenerateRequest(
            model=model,
            chat=pb.ChatMessages(messages=[pb.ChatMessage(role="user", content=question)]),
            sampling=pb.SamplingParams(temperature=0.0, max_tokens=max_tokens))
        started = time.perf_counter()
        answer = (await stub.Generate(request)).choices[0]
        generate_s = time.perf_counter() - started
        replay = pb.ReplayRequest(model=model, chat=request.chat, sampling=request.sampling,
                                  output_token_ids=answer.token_ids,
                                  output_logprobs=answer.logprobs,
                                  finish_reason=answer.finish_reason)
        started = time.perf_counter()
        verdict = await stub.Replay(replay)
        replay_s = time.perf_counter() - started
        if not verdict.accepted:
            raise SystemExit(f"an honest answer failed replay: {verdict.reason}")
        ratios.append(replay_s / generate_s)
    return ratios


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    import grpc

    from gpu_sidecar.inference.config import default_model_spec, parse_model_option
    from gpu_sidecar.inference.engine import InferenceEngine
    from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

    spec = parse_model_option(args.model) if args.model else default_model_spec()
    model_arg = args.model or f"{spec.name}={spec.path}"
    address = f"127.0.0.1:{_free_port()}"
    log_path = Path(args.log)
    sidecar = start_sidecar(model_arg, address, log_path)
    direct = InferenceEngine.start([spec])  # the in-process reference
    served = direct.model(spec.name)
    try:
        await direct.warm_up()
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.requests)]
        prompts = {q: served.render_chat([("user", q)]) for q in set(questions)}
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.InferenceEngineStub(channel)
            await wait_serving(stub, sidecar, log_path)

            async def one_direct(question: str) -> tuple[int, float]:
                return await direct_request(served.engine, prompts[question], args.max_tokens)

            async def one_sidecar(question: str) -> tuple[int, float]:
                return await sidecar_request(stub, spec.name, question, args.max_tokens)

            # one untimed round each: first-use costs stay out of the numbers
            await run_round(one_direct, questions[: args.concurrency], args.concurrency)
            await run_round(one_sidecar, questions[: args.concurrency], args.concurrency)
            direct_rounds, sidecar_rounds = [], []
            for _ in range(args.rounds):
                direct_rounds.append(await run_round(one_direct, questions, args.concurrency))
                sidecar_rounds.append(await run_round(one_sidecar, questions, args.concurrency))

            ttft_pairs = []
            for probe in range(args.ttft_probes):
                question = questions[probe % len(questions)]
                # alternate which path goes first, so drift in machine load cancels out
                if probe % 2:
                    _, sidecar_ttft = await sidecar_request(stub, spec.name, question, 1)
                    _, direct_ttft = await direct_request(served.engine, prompts[question], 1)
                else:
                    _, direct_ttft = await direct_request(served.engine, prompts[question], 1)
                    _, sidecar_ttft = await sidecar_request(stub, spec.name, question, 1)
                ttft_pairs.append((direct_ttft, sidecar_ttft))

            await replay_costs(stub, spec.name, questions[:1], args.max_tokens)  # first use
            ratios = await replay_costs(stub, spec.name, questions[: args.replays],
                                        args.max_tokens)
    finally:
        direct.shutdown()
        if sidecar.poll() is None:
            sidecar.send_signal(signal.SIGTERM)
            try:
                sidecar.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sidecar.kill()

    direct_tokens = sum(r.tokens for r in direct_rounds)
    sidecar_tokens = sum(r.tokens for r in sidecar_rounds)
    direct_tps = direct_tokens / sum(r.seconds for r in direct_rounds)
    sidecar_tps = sidecar_tokens / sum(r.seconds for r in sidecar_rounds)
    load_direct = statistics.median(t for r in direct_rounds for t in r.ttfts)
    load_sidecar = statistics.median(t for r in sidecar_rounds for t in r.ttfts)
    return {
        "model": spec.name,
        "dtype": spec.dtype,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "direct_output_tokens": direct_tokens,
        "sidecar_output_tokens": sidecar_tokens,
        "direct_tokens_per_s": round(direct_tps, 2),
        "sidecar_tokens_per_s": round(sidecar_tps, 2),
        "throughput_ratio": round(sidecar_tps / direct_tps, 4),
        "ttft_direct_ms_p50": round(1000 * statistics.median(d for d, _ in ttft_pairs), 2),
        "ttft_sidecar_ms_p50": round(1000 * statistics.median(s for _, s in ttft_pairs), 2),
        "ttft_added_ms_p50": round(1000 * statistics.median(s - d for d, s in ttft_pairs), 2),
        "ttft_added_ms_p50_under_load": round(1000 * (load_sidecar - load_direct), 2),
        "replay_cost_ratio": round(statistics.median(ratios), 4),
        "replay_cost_ratio_max": round(max(ratios), 4),
        "replays": len(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (minutes on CPU)")
    parser.add_argument("--model", default=None,
                        help="NAME=PATH[,key=value...] (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="requests per round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--log", default="/tmp/race-bench-inference-sidecar.log",
                        help="where the sidecar's output goes")
    args = parser.parse_args()
    quick = {"concurrency": 8, "requests": 16, "rounds": 2, "max_tokens": 64}
    full = {"concurrency": 16, "requests": 64, "rounds": 3, "max_tokens": 128}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.ttft_probes = 32 if args.quick else 64
    args.replays = 4 if args.quick else 8
    result = asyncio.run(main_async(args))
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # The engines were shut down above; vLLM's AsyncLLM finalizer runs again during
    # interpreter teardown and prints a traceback there, after the JSON line that must
    # stay last. Leave without the teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
