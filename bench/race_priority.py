"""What a Race costs concurrent inference (whitepaper section 4, "The Task": user requests
first; docs/race.md, "User requests first").

Two sidecars as ``race sidecar serve`` processes on this machine:

* the **provider's sidecar**: inference (its own vLLM engine, the default SmolLM2 model)
  and the Race engine, which waits between batches while an inference call is in flight
  (gpu_sidecar/race/priority.py);
* a **Race-only sidecar** (``--no-inference``): a Race that knows nothing of the requests,
  competing for the same cores, as a Race engine without the priority rule would.

Streamed requests are sent one at a time, back to back, to the provider's sidecar, and the
time to their first token (TTFT) is measured in three conditions, one after the other: a
Race on the provider's sidecar (it yields), a Race on the Race-only sidecar (it does not),
and no Race running. It also reports each Race's rate against the same Race alone.

Prints one JSON object as its last line. ``--quick`` takes about 5 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gpu_sidecar.inference.config import DEFAULT_MODEL_NAME  # noqa: E402
from race_protocol.gen.race.v1 import sidecar_pb2 as pb  # noqa: E402
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc  # noqa: E402
from race_protocol.race.config import SMALL_CONFIG  # noqa: E402
from tests.client.live_node import free_port  # noqa: E402

TOKEN_ENV = "RACE_SIDECAR_TOKEN"
PROMPTS = ("What is the capital of France?", "Give me three tips for learning to cook.",
           "Explain photosynthesis to a child.", "Why is the sky blue?",
           "Describe how a bicycle works.", "What is a black hole?")


def start_sidecar(args: list[str], token: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, TOKEN_ENV: token, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "gpu_sidecar.cli", "serve",
                                 "--token-env", TOKEN_ENV, *args], cwd=REPO, env=env,
                                stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


@asynccontextmanager
async def channel(address: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(address) as opened:
        yield opened


async def wait_serving(address: str, metadata: tuple[tuple[str, str], ...],
                       process: subprocess.Popen[bytes], inference: bool) -> None:
    deadline = time.monotonic() + 600
    async with channel(address) as opened:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"sidecar at {address} exited ({process.returncode})")
            try:
                if inference:
                    health = await pb_grpc.InferenceEngineStub(opened).Health(
                        pb.InferenceHealthRequest(), metadata=metadata, timeout=5)
                    if health.serving:
                        return
                else:
                    await pb_grpc.RaceEngineStub(opened).GetRaceEngineInfo(
                        pb.GetRaceEngineInfoRequest(), metadata=metadata, timeout=5)
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(1.0)
    raise SystemExit(f"sidecar at {address} not serving after 600 s")


async def ttft(stub: pb_grpc.InferenceEngineStub, metadata: Any, prompt: str,
               max_tokens: int) -> float:
    request = pb.GenerateRequest(model=DEFAULT_MODEL_NAME, sampling=pb.SamplingParams(
        max_tokens=max_tokens, temperature=0.0))
    request.chat.messages.add(role="user", content=prompt)
    started = time.perf_counter()
    first = None
    async for chunk in stub.GenerateStream(request, metadata=metadata, timeout=120):
        if first is None and chunk.token_ids:
            first = time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started


async def race_for(address: str, metadata: Any, seconds: float, race_id: str
                   ) -> asyncio.Task[pb.RaceResult]:
    """Start a Race of ``seconds`` on the sidecar; a task ending with its result."""

    async def run() -> pb.RaceResult:
        async with channel(address) as opened:
            stub = pb_grpc.RaceEngineStub(opened)
            request = pb.StartRaceRequest(
                race_seed=secrets.token_bytes(32), node_public_key=b"\x07" * 32,
                config=pb.RaceConfig(**SMALL_CONFIG.to_dict()), race_id=race_id,
                deadline_unix_ms=int((time.time() + seconds) * 1000))
            result = None
            async for event in stub.StartRace(request, metadata=metadata):
                if event.HasField("finished"):
                    result = event.finished
            assert result is not None
            return result

    task = asyncio.create_task(run())
    await asyncio.sleep(3.0)  # the model is built and batches are running
    return task


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(1000 * statistics.median(values), 1),
            "p99_ms": round(1000 * percentile(values, 0.99), 1),
            "mean_ms": round(1000 * statistics.fmean(values), 1)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    metadata = (("authorization", f"Bearer {token}"),)
    provider_address = f"127.0.0.1:{free_port()}"
    other_address = f"127.0.0.1:{free_port()}"
    provider = start_sidecar(["--address", provider_address, "--race-config", "small"],
                             token, logs / "provider-sidecar.log")
    other = start_sidecar(["--address", other_address, "--no-inference", "--race-config",
                           "small"], token, logs / "race-only-sidecar.log")
    try:
        await wait_serving(provider_address, metadata, provider, inference=True)
        await wait_serving(other_address, metadata, other, inference=False)
        async with channel(provider_address) as opened:
            stub = pb_grpc.InferenceEngineStub(opened)
            for prompt in PROMPTS[:2]:  # warm the engine's caches and compiled paths
                await ttft(stub, metadata, prompt, args.max_tokens)
            times: dict[str, list[float]] = {"no_race": [], "race_yielding": [],
                                             "race_not_yielding": []}
            alone = await race_for(provider_address, metadata, args.race_seconds, "alone")
            alone_result = await alone
            races: dict[str, pb.RaceResult] = {}
            for condition, address in (("race_yielding", provider_address),
                                       ("race_not_yielding", other_address)):
                task = await race_for(address, metadata, args.race_seconds, condition)
                index = 0
                while not task.done():
                    prompt = PROMPTS[index % len(PROMPTS)]
                    times[condition].append(await ttft(stub, metadata, prompt,
                                                       args.max_tokens))
                    index += 1
                races[condition] = await task
            for index in range(max(len(v) for v in times.values())):
                times["no_race"].append(await ttft(stub, metadata,
                                                   PROMPTS[index % len(PROMPTS)],
                                                   args.max_tokens))
                if index + 1 >= args.requests:
                    break
    finally:
        for process in (provider, other):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (provider, other):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    base = statistics.median(times["no_race"])

    def rate(result: pb.RaceResult) -> float:
        return round(result.nonces_per_s, 1)

    return {
        "bench": "race_priority",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "model": DEFAULT_MODEL_NAME, "max_tokens": args.max_tokens,
        "race_seconds": args.race_seconds, "race_config": "small",
        "ttft": {name: summary(values) for name, values in times.items()},
        "ttft_added_p50_ms": {
            name: round(1000 * (statistics.median(times[name]) - base), 1)
            for name in ("race_yielding", "race_not_yielding")},
        "race_nonces_per_s": {"alone": rate(alone_result),
                              "yielding_to_requests": rate(races["race_yielding"]),
                              "not_yielding": rate(races["race_not_yielding"])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter races")
    parser.add_argument("--race-seconds", type=float, default=None)
    parser.add_argument("--requests", type=int, default=40,
                        help="requests without a Race (at most)")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--logs", default="/tmp/race-priority-bench")
    args = parser.parse_args()
    if args.race_seconds is None:
        args.race_seconds = 30.0 if args.quick else 90.0
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
