"""The gateway's cost: the same streamed chat requests sent to a provider's sidecar directly
and through the gateway (relay, ticket, executor endpoint, the same sidecar), on one
localnet with providers (DESIGN.md 7.2: time to first token never waits for a block).

* **throughput**: ``--requests`` requests at ``--concurrency``, output tokens per second,
  direct and through the gateway, in alternating rounds; ``throughput_ratio`` = gateway
  over direct (target >= 0.95).
* **added time to first token**: requests sent one at a time, alternately direct and
  through the gateway; ``ttft_added_ms_p50`` / ``_p99`` are the percentiles of the paired
  differences (target p50 <= 5 ms).
* **CPU per token** (Linux, from ``/proc``): during the throughput rounds, the CPU time of
  the gateway, the agents, the sidecars, the shared engine (with its worker processes)
  and this process (the client), per output token and per path. The gateway and agent
  figures are net of what those processes spend anyway (their rate during the direct
  rounds, when no request crosses them). On a host where the engine computes on the
  same cores, ``cpu_bound_ratio`` = engine / (engine + gateway + agent) is the best
  ``throughput_ratio`` the gateway path can reach.

**Verification.** Every answer through the gateway is a settled task that the other
providers may replay (docs/verification.md), on the same engine here. A fresh localnet's
executors are all new, checked about five times per task; that is the network's cost of
trusting a newcomer, not the gateway's. By default the bench's localnet starts with the
steady-state rate (``--checks steady``: ``verification.new_executor_check_rate_ppm`` at
the 5% floor, the rate of a reputable executor); ``--checks new`` keeps the default
genesis rate to show the cost for new executors.

The load is driven by the official ``openai`` client (AsyncOpenAI, streaming), the same
client developers use. Dedicated OpenAI load tools (aiperf, guidellm) are not used: they
are not in the project's locked dependencies and pull large trees of their own; pointing
one at ``--base-url``/``/v1`` runs the same workload.

Usage: ``python bench/gateway.py [--quick] [--dir LOCALNET]`` (without ``--dir`` a
four-provider localnet is created and started, which takes a few minutes on a CPU).
Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from race_node.localnet import Localnet  # noqa: E402
from race_protocol.gen.race.v1 import sidecar_pb2  # noqa: E402

MODEL = "smollm2-135m-instruct"
SIDECAR_MODEL = "SmolLM2-135M-Instruct"
PROMPTS = [f"Write one sentence about the number {n}." for n in range(32)]


def log(message: str) -> None:
    print(f"[gateway] {message}", file=sys.stderr, flush=True)


def race(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "governance.main", *args, "--output", "json"],
                          capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(done.stdout)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a live process has used; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (the engine's vLLM workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class CpuMeter:
    """CPU seconds of the localnet's inference processes, by group, and of this process."""

    GROUPS = ("gateway", "agent", "sidecar", "engine", "client")

    def __init__(self, net: Localnet) -> None:
        gateway, engine = net.gateway_process(), net.engine_process()
        self.roots: dict[str, list[int]] = {
            "gateway": [gateway.pid() or 0] if gateway is not None else [],
            "agent": [net.agent_process(i).pid() or 0 for i in range(net.size)],
            "sidecar": [net.sidecar_process(i).pid() or 0 for i in range(net.size)],
            "engine": [engine.pid() or 0] if engine is not None else [],
        }

    def sample(self) -> dict[str, float]:
        sample = {group: sum(process_cpu(pid) for pid in with_descendants(roots))
                  for group, roots in self.roots.items()}
        sample["client"] = time.process_time()
        return sample


class Paths:
    """The two ways to the same engine: node0's sidecar, and the gateway."""

    def __init__(self, net: Localnet, api_key: str, max_tokens: int) -> None:
        self.sidecar = net.sidecar_client(0)
        gateway = net.gateway()
        assert gateway is not None and gateway.get("openai"), "a localnet with providers"
        self.client = openai.AsyncOpenAI(base_url=gateway["openai"], api_key=api_key,
                                         max_retries=0)
        self.max_tokens = max_tokens

    async def direct(self, prompt: str) -> tuple[float, int]:
        """(seconds to the first token, output tokens) through the sidecar."""
        request = sidecar_pb2.GenerateRequest(
            model=SIDECAR_MODEL,
            chat=sidecar_pb2.ChatMessages(messages=[
                sidecar_pb2.ChatMessage(role="user", content=prompt)]),
            sampling=sidecar_pb2.SamplingParams(temperature=0.0, max_tokens=self.max_tokens))
        started = time.perf_counter()
        first, tokens = 0.0, 0
        async for chunk in self.sidecar.generate_stream(request):
            if chunk.token_ids and not tokens:
                first = time.perf_counter() - started
            tokens += len(chunk.token_ids)
        return first, tokens

    async def gateway(self, prompt: str) -> tuple[float, int]:
        """(seconds to the first token, output tokens) through the gateway."""
        started = time.perf_counter()
        first, tokens = 0.0, 0
        stream = await self.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], temperature=0,
            max_tokens=self.max_tokens, stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter() - started
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return first, tokens

    async def round(self, path: str, prompts: list[str], concurrency: int
                    ) -> tuple[float, int]:
        """Seconds and output tokens for ``prompts`` at ``concurrency``."""
        send = self.direct if path == "direct" else self.gateway
        gate = asyncio.Semaphore(concurrency)

        async def one(prompt: str) -> int:
            async with gate:
                return (await send(prompt))[1]

        started = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(p) for p in prompts)))
        return time.perf_counter() - started, tokens


def cpu_figures(cpu: dict[str, dict[str, float]], seconds: dict[str, float],
                tokens: dict[str, int]) -> dict[str, Any]:
    """Milliseconds of CPU per output token, by process group and path, and the bound
    they put on the throughput ratio."""
    per_token = {path: {group: round(1e3 * cpu[path][group] / tokens[path], 3)
                        for group in CpuMeter.GROUPS} for path in ("direct", "gateway")}

    def added(group: str) -> float:
        """The group's CPU in the gateway rounds beyond its rate in the direct ones."""
        idle_rate = cpu["direct"][group] / seconds["direct"]
        return max(0.0, cpu["gateway"][group] - idle_rate * seconds["gateway"])

    gateway_ms = 1e3 * added("gateway") / tokens["gateway"]
    agent_ms = 1e3 * added("agent") / tokens["gateway"]
    engine_ms = 1e3 * (cpu["direct"]["engine"] + cpu["gateway"]["engine"]) / (
        tokens["direct"] + tokens["gateway"])
    return {
        "gateway_cpu_ms_per_token": round(gateway_ms, 3),
        "agent_cpu_ms_per_token": round(agent_ms, 3),
        "engine_cpu_ms_per_token": round(engine_ms, 3),
        "cpu_bound_ratio": round(engine_ms / (engine_ms + gateway_ms + agent_ms), 4),
        "cpu_ms_per_token": per_token,
    }


async def measure(paths: Paths, meter: CpuMeter, requests: int, rounds: int,
                  concurrency: int, alone: int) -> dict[str, Any]:
    for path in ("direct", "gateway"):  # warm both paths (connections, caches)
        await paths.round(path, PROMPTS[:concurrency], concurrency)
    seconds = {"direct": 0.0, "gateway": 0.0}
    tokens = {"direct": 0, "gateway": 0}
    cpu = {path: dict.fromkeys(CpuMeter.GROUPS, 0.0) for path in ("direct", "gateway")}
    load = os.getloadavg()[0]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(requests)]
    for number in range(rounds):
        order = ("direct", "gateway") if number % 2 == 0 else ("gateway", "direct")
        for path in order:
            before = meter.sample()
            spent, produced = await paths.round(path, prompts, concurrency)
            after = meter.sample()
            for group in CpuMeter.GROUPS:
                cpu[path][group] += after[group] - before[group]
            seconds[path] += spent
            tokens[path] += produced
            log(f"round {number} {path}: {produced} tokens in {spent:.1f}s")
    added, direct_ttft, gateway_ttft = [], [], []
    for index in range(alone):
        prompt = PROMPTS[index % len(PROMPTS)]
        pair = [await paths.direct(prompt), await paths.gateway(prompt)] if index % 2 == 0 \
            else list(reversed([await paths.gateway(prompt), await paths.direct(prompt)]))
        direct_ttft.append(pair[0][0])
        gateway_ttft.append(pair[1][0])
        added.append(pair[1][0] - pair[0][0])
    direct_rate = tokens["direct"] / seconds["direct"]
    gateway_rate = tokens["gateway"] / seconds["gateway"]
    return {
        "requests_per_round": requests, "rounds": rounds, "concurrency": concurrency,
        "max_tokens": paths.max_tokens,
        "direct_tokens_per_s": round(direct_rate, 2),
        "gateway_tokens_per_s": round(gateway_rate, 2),
        "throughput_ratio": round(gateway_rate / direct_rate, 4),
        "ttft_direct_ms_p50": round(1e3 * statistics.median(direct_ttft), 2),
        "ttft_gateway_ms_p50": round(1e3 * statistics.median(gateway_ttft), 2),
        "ttft_added_ms_p50": round(1e3 * statistics.median(added), 2),
        "ttft_added_ms_p99": round(1e3 * percentile(added, 0.99), 2),
        "requests_alone": alone,
        **cpu_figures(cpu, seconds, tokens),
        "load_average_1m": round(load, 2),
    }


# --checks steady: every executor checked at the floor rate, as a reputable one is.
STEADY_CHECKS = ("--param", "verification.new_executor_check_rate_ppm=50000")


def bring_up(directory: Path, checks: str) -> Localnet:
    log(f"creating a four-provider localnet in {directory} ({checks} check rate)")
    race("localnet", "init", "--dir", str(directory), "--base-port", "36100",
         *(STEADY_CHECKS if checks == "steady" else ()))
    race("localnet", "start", "--dir", str(directory))
    return Localnet(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests x 2 rounds, 10 alone")
    parser.add_argument("--dir", type=Path, help="a running localnet with providers")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--alone", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--checks", choices=("steady", "new"), default="steady",
                        help="check rate of the created localnet's executors: the 5%% "
                             "floor of a reputable one (steady) or the genesis default for "
                             "new ones, about five replays per task (new)")
    args = parser.parse_args()
    requests, rounds, alone = (8, 2, 10) if args.quick else (args.requests, args.rounds,
                                                            args.alone)
    created = args.dir is None
    directory = args.dir or Path(tempfile.mkdtemp(prefix="race-gateway-bench-")) / "net"
    net = bring_up(directory, args.checks) if created else Localnet(directory)
    try:
        key = race("apikey", "create", "--from", "developer", "--budget", "100icoin",
                   "--home", str(net.home(0).root))
        paths = Paths(net, key["api_key"], args.max_tokens)
        result = asyncio.run(measure(paths, CpuMeter(net), requests, rounds,
                                     args.concurrency, alone))
    finally:
        if created:
            net.stop(timeout=20)
    checks = args.checks if created else "as the localnet was created"
    print(json.dumps({"model": MODEL, "checks": checks, **result}))


if __name__ == "__main__":
    main()
