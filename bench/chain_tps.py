"""Committed signed MsgSend txs per second on a single-validator chain, against CometBFT's kvstore.

Both chains run on this machine in the same run, with the same CometBFT config, the same
load generator and the same tx size (kvstore txs are padded to the signed MsgSend's size):

* **app**: our ABCI application over its unix socket, one funded sender per tx (so txs
  are independent and the generator can send them in any order);
* **kvstore**: ``cometbft start --proxy_app=kvstore`` (CometBFT's built-in example app).

Load generator: every tx is built (and, for the app, signed) before the clock starts.
Txs go out as JSON-RPC batches of ``broadcast_tx_async`` over several concurrent HTTP
connections, keeping the mempool's backlog near ``--backlog`` txs (a closed loop: the
generator tops the mempool up; it never waits on a commit). A run ends when every tx is
in a committed block. TPS = committed txs / seconds from the first send to the block
that holds the last tx.

FinalizeBlock and Commit times come from CometBFT's own ABCI client metrics
(``cometbft_abci_connection_method_timing_seconds``, Prometheus), measured the same way
for both apps: ``finalize_us_per_tx`` = total FinalizeBlock seconds / committed txs,
``commit_ms`` = mean Commit duration over the run's blocks.

Prints progress to stderr and one JSON object as the last line of stdout.
Usage: ``python bench/chain_tps.py [--quick] [--txs N] [--backlog N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from race_node.client.rpc import CometRPC, RPCError  # noqa: E402
from race_node.localnet import Localnet, LocalnetSpec  # noqa: E402
from race_node.node.cometbft_config import set_config_values  # noqa: E402
from race_node.node.home import NodeHome, find_cometbft  # noqa: E402
from race_node.node.process import ManagedProcess  # noqa: E402

METRIC_RE = re.compile(
    r'^cometbft_abci_connection_method_timing_seconds_(sum|count)\{([^}]*)\}\s+(\S+)$'
)


def log(message: str) -> None:
    print(f"[chain_tps] {message}", file=sys.stderr, flush=True)


def free_port_block(size: int = 10) -> int:
    """A base port with ``size`` free consecutive ports above it (best effort)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        try:
            for offset in range(size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port block found")


@dataclass(frozen=True)
class ChainSettings:
    """Everything both runs share: CometBFT consensus and mempool settings."""

    timeout_commit: str
    mempool_size: int
    backlog: int
    batch: int
    connections: int
    recheck: bool = True

    def config_values(self, prometheus_port: int) -> dict[str, dict[str, Any]]:
        return {
            "mempool": {"size": self.mempool_size, "cache_size": 2 * self.mempool_size,
                        "max_txs_bytes": 4 * 1024**3, "recheck": self.recheck},
            "consensus": {"timeout_commit": self.timeout_commit,
                          "create_empty_blocks": True},
            "rpc": {"max_body_bytes": 64 * 1024**2, "max_open_connections": 0,
                    "max_request_batch_size": 0},
            "instrumentation": {"prometheus": True,
                                "prometheus_listen_addr": f"127.0.0.1:{prometheus_port}"},
            "": {"log_level": "info"},
        }


def abci_timings(metrics_url: str) -> dict[str, tuple[float, int]]:
    """method -> (seconds summed, calls) from CometBFT's ABCI client histogram."""
    text = httpx.get(metrics_url, timeout=10).text
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        match = METRIC_RE.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        entry = found.setdefault(labels.get("method", "?"), [0.0, 0.0])
        entry[0 if match.group(1) == "sum" else 1] += float(match.group(3))
    return {method: (total, int(count)) for method, (total, count) in found.items()}


async def committed_tx_count(client: httpx.AsyncClient, from_height: int,
                             to_height: int) -> tuple[int, int]:
    """Sum of num_txs in blocks (from_height, to_height], and how many of those blocks."""
    total, blocks = 0, 0
    low = from_height + 1
    while low <= to_height:
        high = min(to_height, low + 19)
        body = {"jsonrpc": "2.0", "id": 0, "method": "blockchain",
                "params": {"minHeight": str(low), "maxHeight": str(high)}}
        result = (await client.post("/", json=body)).json()["result"]
        for meta in result["block_metas"]:
            total += int(meta["num_txs"])
            blocks += 1
        low = high + 1
    return total, blocks


async def drive_load(rpc_url: str, txs: list[bytes], settings: ChainSettings,
                     start_height: int, timeout: float) -> dict[str, Any]:
    """Send ``txs`` keeping ~backlog in the mempool; return timing once all are committed."""
    # Request bodies are encoded before the clock starts, so the generator's own work
    # during the run is one HTTP POST per batch.
    bodies = []
    for start in range(0, len(txs), settings.batch):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_async",
                  "params": {"tx": base64.b64encode(tx).decode()}}
                 for i, tx in enumerate(txs[start:start + settings.batch])]
        bodies.append(json.dumps(batch).encode())
    limits = httpx.Limits(max_connections=settings.connections + 2)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=rpc_url, timeout=60, limits=limits) as client:
        next_body = 0
        sent_done_at: float | None = None
        started = time.monotonic()

        async def mempool_size() -> int:
            body = {"jsonrpc": "2.0", "id": 0, "method": "num_unconfirmed_txs", "params": {}}
            return int((await client.post("/", json=body)).json()["result"]["total"])

        async def sender() -> None:
            nonlocal next_body, sent_done_at
            while True:
                if next_body >= len(bodies):
                    if sent_done_at is None:
                        sent_done_at = time.monotonic()
                    return
                body = bodies[next_body]
                next_body += 1
                response = await client.post("/", content=body, headers=headers)
                replies = response.json()
                if isinstance(replies, dict):
                    replies = [replies]
                errors = [r["error"] for r in replies if r.get("error")]
                if errors:
                    raise RuntimeError(f"broadcast failed: {errors[0]}")
                while await mempool_size() > settings.backlog:
                    await asyncio.sleep(0.01)

        senders = [asyncio.create_task(sender()) for _ in range(settings.connections)]
        committed, height, blocks = 0, start_height, 0
        last_block_seen_at = started
        try:
            while committed < len(txs):
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"only {committed}/{len(txs)} txs committed in "
                                       f"{timeout:.0f}s")
                for task in senders:
                    if task.done() and task.exception():
                        raise task.exception()  # type: ignore[misc]
                body = {"jsonrpc": "2.0", "id": 0, "method": "status", "params": {}}
                status = (await client.post("/", json=body)).json()["result"]
                latest = int(status["sync_info"]["latest_block_height"])
                if latest > height:
                    count, new_blocks = await committed_tx_count(client, height, latest)
                    committed += count
                    blocks += new_blocks
                    height = latest
                    last_block_seen_at = time.monotonic()
                await asyncio.sleep(0.02)
        finally:
            for task in senders:
                task.cancel()
        elapsed = last_block_seen_at - started
        send_elapsed = (sent_done_at or last_block_seen_at) - started
        return {"committed": committed, "seconds": elapsed, "blocks": blocks,
                "end_height": height, "send_seconds": send_elapsed}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def block_results(rpc: CometRPC, height: int, wait: float = 20.0) -> dict[str, Any]:
    """A block's results; CometBFT stores the block before its results, so wait briefly."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return rpc.call("block_results", height=str(height))
        except RPCError as missing:
            if "could not find results" not in str(missing) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def count_failed_txs(rpc: CometRPC, from_height: int, to_height: int) -> int:
    failed = 0
    for height in range(from_height + 1, to_height + 1):
        results = block_results(rpc, height).get("txs_results") or []
        failed += sum(1 for r in results if int(r.get("code", 0)) != 0)
    return failed


def measure(label: str, rpc_url: str, metrics_url: str, txs: list[bytes],
            settings: ChainSettings, timeout: float,
            count_failures: Callable[[CometRPC, int, int], int] | None,
            processes: dict[str, int]) -> dict[str, Any]:
    """One chain's run; ``processes`` (name -> pid) get their CPU time per committed tx."""
    with CometRPC(rpc_url) as rpc:
        rpc.wait_for_height(2, timeout=60)
        start_height = rpc.latest_height()
        before = abci_timings(metrics_url)
        log(f"{label}: sending {len(txs)} txs from height {start_height}")
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
        outcome = asyncio.run(drive_load(rpc_url, txs, settings, start_height, timeout))
        cpu_after = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        after = abci_timings(metrics_url)
        failed = count_failures(rpc, start_height, outcome["end_height"]) if count_failures else 0

    def delta(method: str) -> tuple[float, int]:
        total_after, calls_after = after.get(method, (0.0, 0))
        total_before, calls_before = before.get(method, (0.0, 0))
        return total_after - total_before, calls_after - calls_before

    finalize_s, finalize_calls = delta("finalize_block")
    commit_s, commit_calls = delta("commit")
    check_s, check_calls = delta("check_tx")
    ok = outcome["committed"] - failed
    result = {
        "tps": ok / outcome["seconds"] if outcome["seconds"] > 0 else 0.0,
        "committed_txs": outcome["committed"],
        "failed_txs": failed,
        "seconds": round(outcome["seconds"], 3),
        "send_seconds": round(outcome["send_seconds"], 3),
        # When sending takes as long as committing, ingest (RPC + CheckTx) set the pace.
        "ingest_bound": outcome["send_seconds"] >= 0.9 * outcome["seconds"],
        "blocks": outcome["blocks"],
        # The generator's own CPU share of the run: well under 1.0 means it kept up.
        "generator_cpu_share": round(
            (usage_after.ru_utime + usage_after.ru_stime - usage_before.ru_utime
             - usage_before.ru_stime) / max(outcome["seconds"], 1e-9), 3),
        "finalize_us_per_tx": 1e6 * finalize_s / max(1, outcome["committed"]),
        "finalize_ms_per_block": 1e3 * finalize_s / max(1, finalize_calls),
        "commit_ms": 1e3 * commit_s / max(1, commit_calls),
        "check_tx_us": 1e6 * check_s / max(1, check_calls),
        "check_tx_calls": check_calls,
        # CPU each process used per committed tx, and its share of one core over the run
        # (1.0 = one core busy throughout). The run ends at the block holding the last tx.
        "cpu_us_per_tx": {name: round(1e6 * (cpu_after[name] - cpu_before[name])
                                      / max(1, outcome["committed"]), 1)
                          for name in processes},
        "cpu_share": {name: round((cpu_after[name] - cpu_before[name])
                                  / max(outcome["seconds"], 1e-9), 3)
                      for name in processes},
    }
    log(f"{label}: {result['tps']:.0f} tx/s ({ok} ok, {failed} failed, "
        f"{outcome['blocks']} blocks in {outcome['seconds']:.1f}s; "
        f"generator done after {outcome['send_seconds']:.1f}s)")
    return result


# --- the kvstore reference -------------------------------------------------------------

def kvstore_txs(count: int, size: int) -> list[bytes]:
    """Unique ``key=value`` txs of exactly ``size`` bytes."""
    txs = []
    for index in range(count):
        head = f"bench{index:09d}=".encode()
        txs.append(head + b"v" * max(1, size - len(head)))
    return txs


def run_kvstore(work: Path, txs: list[bytes], settings: ChainSettings,
                timeout: float) -> dict[str, Any]:
    home = NodeHome(work / "kvstore")
    subprocess.run([str(find_cometbft()), "init", "--home", str(home.root)], check=True,
                   capture_output=True)
    base = free_port_block()
    values = settings.config_values(base + 3)
    values["rpc"]["laddr"] = f"tcp://127.0.0.1:{base + 1}"
    values["p2p"] = {"laddr": f"tcp://127.0.0.1:{base}"}
    values[""]["proxy_app"] = "kvstore"
    set_config_values(home.config_toml, values)
    node = ManagedProcess("cometbft-kvstore",
                          [str(find_cometbft()), "start", "--home", str(home.root)],
                          home.logs_dir / "cometbft.log", home.run_dir / "cometbft.pid")
    node.start()
    try:
        pid = node.pid()
        return measure("kvstore", home.rpc_url(), f"http://127.0.0.1:{base + 3}/metrics",
                       txs, settings, timeout, None, {"cometbft": pid} if pid else {})
    finally:
        node.stop()


# --- our application ---------------------------------------------------------------------

def app_txs(count: int) -> tuple[dict[str, int], Callable[[str, int], list[bytes]]]:
    """Genesis balances for ``count`` senders, and a signer for their one MsgSend each."""
    from abci_app.tx import (
        address_from_public_key,
        build_signed_tx,
        generate_private_key,
        public_key_bytes,
    )
    from race_protocol.gen.race.v1 import bank_pb2

    keys = [generate_private_key() for _ in range(count)]
    senders = [address_from_public_key(public_key_bytes(k)) for k in keys]
    recipients = senders[-16:]
    balances = dict.fromkeys(senders, 10**12)

    def sign_all(chain_id: str, fee_nicoin: int) -> list[bytes]:
        return [
            build_signed_tx(key, chain_id, 0, fee_nicoin, [bank_pb2.MsgSend(
                from_address=sender, to_address=recipients[index % len(recipients)],
                amount_nicoin=1000 + index)])
            for index, (key, sender) in enumerate(zip(keys, senders, strict=True))
        ]

    return balances, sign_all


def run_app(work: Path, count: int, settings: ChainSettings,
            timeout: float) -> tuple[dict[str, Any], int]:

    balances, sign_all = app_txs(count)
    base = free_port_block()
    spec = LocalnetSpec(validators=1, chain_id="race-bench", base_port=base,
                        timeout_commit=settings.timeout_commit, create_empty_blocks=True,
                        providers=False)
    net = Localnet.create(work / "app", spec, extra_balances=balances,
                          config_overrides=settings.config_values(base + 3))
    net.start()
    try:
        with net.rpc(0) as rpc:
            params = rpc.abci_query("/auth/params").json() or {}
        fee = int(params.get("min_fee_nicoin", 0) or 0)
        log(f"app: signing {count} MsgSend txs (fee {fee} nicoin)")
        txs = sign_all(spec.chain_id, fee)
        tx_size = max(len(tx) for tx in txs)
        runner = net.runner(0)
        pids = {"cometbft": runner.cometbft.pid(), "app": runner.app.pid()}
        result = measure("app", net.node(0)["rpc"], f"http://127.0.0.1:{base + 3}/metrics",
                         txs, settings, timeout, count_failed_txs,
                         {name: pid for name, pid in pids.items() if pid})
        return result, tx_size
    finally:
        net.stop()


def profile_in_process(count: int, block_txs: int, profile_top: int) -> dict[str, Any]:
    """Drive RaceApp directly (no sockets, no cometbft): CheckTx, FinalizeBlock and Commit
    per tx, with cProfile's top functions on stderr when ``profile_top`` > 0."""
    import cProfile
    import io
    import pstats

    from abci_app.app import RaceApp
    from abci_app.genesis import build_app_state
    from race_protocol.gen.tendermint.abci import types_pb2 as abci

    balances, sign_all = app_txs(count)
    work = Path(tempfile.mkdtemp(prefix="race-bench-inproc-"))
    app = RaceApp(work / "app.db")
    # cProfile slows every Python call several-fold: only with --profile.
    profiler = cProfile.Profile() if profile_top else None
    try:
        init = abci.RequestInitChain(chain_id="race-bench", initial_height=1,
                                     app_state_bytes=json.dumps(
                                         build_app_state(balances)).encode())
        init.time.seconds = 1_700_000_000
        validator = init.validators.add()
        validator.pub_key.ed25519 = bytes(range(32))
        validator.power = 10
        app.init_chain(init)
        fee = int(json.loads(app.query(abci.RequestQuery(path="/auth/params")).value)
                  .get("min_fee_nicoin", 0))
        txs = sign_all("race-bench", fee)
        check_s = finalize_s = commit_s = 0.0
        blocks = 0
        if profiler is not None:
            profiler.enable()
        for height, start in enumerate(range(0, count, block_txs), start=1):
            block = txs[start:start + block_txs]
            t0 = time.perf_counter()
            for tx in block:
                app.check_tx(abci.RequestCheckTx(tx=tx))
            t1 = time.perf_counter()
            request = abci.RequestFinalizeBlock(txs=block, height=height,
                                                hash=height.to_bytes(32, "big"))
            request.time.seconds = 1_700_000_000 + height
            response = app.finalize_block(request)
            t2 = time.perf_counter()
            app.commit(abci.RequestCommit())
            t3 = time.perf_counter()
            failed = [r for r in response.tx_results if r.code != 0]
            if failed:
                raise RuntimeError(f"in-process block {height}: {len(failed)} txs failed, "
                                   f"first: {failed[0].log}")
            check_s, finalize_s, commit_s = (check_s + t1 - t0, finalize_s + t2 - t1,
                                             commit_s + t3 - t2)
            blocks += 1
        if profiler is not None:
            profiler.disable()
    finally:
        app.close()
        shutil.rmtree(work, ignore_errors=True)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile_top)
        log("in-process profile (FinalizeBlock + CheckTx + Commit), by own time:\n"
            + out.getvalue())
    return {
        "check_tx_us": round(1e6 * check_s / count, 1),
        "finalize_us_per_tx": round(1e6 * finalize_s / count, 1),
        "commit_ms": round(1e3 * commit_s / max(1, blocks), 2),
        "block_txs": block_txs,
        "max_tps_single_core": round(count / (check_s + finalize_s + commit_s), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (< 10 minutes)")
    parser.add_argument("--txs", type=int, help="txs per chain (default 10000, quick 6000)")
    parser.add_argument("--backlog", type=int, default=3000,
                        help="mempool backlog the generator keeps")
    parser.add_argument("--batch", type=int, default=250, help="txs per JSON-RPC batch")
    parser.add_argument("--connections", type=int, default=4, help="concurrent HTTP senders")
    parser.add_argument("--timeout-commit", default="200ms")
    parser.add_argument("--no-recheck", action="store_true",
                        help="mempool recheck off (for both chains)")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds allowed per chain run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the in-process run's top N functions by own time")
    args = parser.parse_args()
    count = args.txs or (6000 if args.quick else 20000)
    # kvstore gets 3x the txs so its (much shorter) run spans enough blocks to be a rate.
    kvstore_count = 3 * count
    settings = ChainSettings(timeout_commit=args.timeout_commit, mempool_size=kvstore_count * 2,
                             backlog=args.backlog, batch=args.batch,
                             connections=args.connections, recheck=not args.no_recheck)
    work = Path(tempfile.mkdtemp(prefix="race-bench-"))
    try:
        app, tx_size = run_app(work, count, settings, args.timeout)
        kvstore = run_kvstore(work, kvstore_txs(kvstore_count, tx_size), settings,
                              args.timeout)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work directory kept: {work}")
    log("in-process: CheckTx, FinalizeBlock and Commit without sockets or cometbft")
    in_process = profile_in_process(min(count, 4000), 1000, args.profile)
    app_cpu = app["cpu_us_per_tx"]
    app_share = app["cpu_share"].get("app", 0.0)
    checks_per_tx = app["check_tx_calls"] / max(1, app["committed_txs"])
    bounded_by = (
        f"app: CPU of a {os.cpu_count()}-core host shared by the Python app, CometBFT and the "
        f"generator. Per committed tx the app used {app_cpu.get('app', 0):.0f} us of CPU on "
        f"its one thread (busy {100 * app_share:.0f}% of the run): CheckTx "
        f"{in_process['check_tx_us']:.0f} us in-process (ed25519 verify most of it), a "
        f"re-check per block the tx waits ({checks_per_tx:.1f} CheckTx calls per tx), "
        f"FinalizeBlock {in_process['finalize_us_per_tx']:.0f} us and "
        f"Commit {in_process['commit_ms']:.0f} ms per {in_process['block_txs']}-tx block "
        f"(one-core ceiling ~{in_process['max_tps_single_core']:.0f} tx/s before sockets and "
        "re-check); "
        f"CometBFT used {app_cpu.get('cometbft', 0):.0f} us per tx against the app vs "
        f"{kvstore['cpu_us_per_tx'].get('cometbft', 0):.0f} us with kvstore (ABCI socket "
        "client, re-check, events to index). kvstore: "
        + ("ingest (RPC + mempool), the generator never ran ahead"
           if kvstore["ingest_bound"] else "block execution and consensus")
    )
    summary = {
        "app_tps": round(app["tps"], 1),
        "kvstore_tps": round(kvstore["tps"], 1),
        "ratio": round(app["tps"] / kvstore["tps"], 3) if kvstore["tps"] else None,
        "finalize_us_per_tx": round(app["finalize_us_per_tx"], 1),
        "commit_ms": round(app["commit_ms"], 2),
        "check_tx_us": round(app["check_tx_us"], 1),
        "bounded_by": bounded_by,
        "tx_bytes": tx_size,
        "txs": count,
        "kvstore_txs": kvstore_count,
        "app": {k: round(v, 3) if isinstance(v, float) else v for k, v in app.items()},
        "kvstore": {k: round(v, 3) if isinstance(v, float) else v for k, v in kvstore.items()},
        "in_process": in_process,
        "settings": {"timeout_commit": settings.timeout_commit, "backlog": settings.backlog,
                     "batch": settings.batch, "connections": settings.connections,
                     "mempool_size": settings.mempool_size, "recheck": settings.recheck},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
