"""Peak memory of a node's app under a CheckTx flood of refused 60 KB txs.

The attack (issue "the foundation holds under attack", finding 4): anyone can sign large
txs from keys that were never funded. Each passes every stateless check (decoding, the
signature, the messages' own checks) and is refused by the ante handler (account not
found), so it costs the sender nothing. What the app keeps per refused tx is what the
flood costs a node.

A one-validator chain-only localnet runs on loopback; ``--txs`` txs of ``--tx-bytes``
each (six ``MsgSubmitProposal`` with long summaries, every tx from a fresh unfunded key)
go through CometBFT's ``broadcast_tx_sync`` over ``--connections`` concurrent HTTP
connections. The app process's peak resident memory (``VmHWM`` in /proc) is read at the
end, with its resident memory before and after.

Prints progress to stderr and one JSON object as the last line of stdout.
Usage: ``python bench/checktx_flood.py [--txs 20000] [--tx-bytes 60000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import abci_app.tx as txlib  # noqa: E402
from race_node.localnet import Localnet, LocalnetSpec  # noqa: E402
from race_protocol.gen.race.v1 import gov_pb2  # noqa: E402

MESSAGES_PER_TX = 6
MIB = 1024 * 1024


def log(message: str) -> None:
    print(f"[checktx_flood] {message}", file=sys.stderr, flush=True)


def free_base_port() -> int:
    """A base port whose ten following ports are free (best effort)."""
    for base in range(41000, 60000, 17):
        try:
            for port in range(base, base + 10):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def refused_tx(seed: int, chain_id: str, tx_bytes: int) -> bytes:
    """A signed tx of about ``tx_bytes`` from an unfunded key: every stateless check
    passes, the ante handler refuses it (account not found)."""
    key = txlib.private_key_from_bytes((7_000_000 + seed).to_bytes(32, "big"))
    proposer = txlib.address_from_public_key(txlib.public_key_bytes(key))
    summary_chars = max(1, min(10_000, (tx_bytes - 400) // MESSAGES_PER_TX - 120))
    summary = (f"flood {seed} " * (summary_chars // 8 + 1))[:summary_chars]
    messages = [gov_pb2.MsgSubmitProposal(proposer=proposer, title=f"flood {seed}.{i}",
                                          summary=summary, initial_deposit_nicoin=1)
                for i in range(MESSAGES_PER_TX)]
    return txlib.build_signed_tx(key, chain_id, 0, 10**6, messages)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


async def flood(rpc_url: str, chain_id: str, txs: int, tx_bytes: int,
                connections: int) -> tuple[Counter[int], int]:
    """Send every tx with broadcast_tx_sync; the codes CheckTx answered, bytes sent."""
    codes: Counter[int] = Counter()
    sent_bytes = 0
    next_seed = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_seed, sent_bytes
        while next_seed < txs:
            seed = next_seed
            next_seed += 1
            tx = refused_tx(seed, chain_id, tx_bytes)
            sent_bytes += len(tx)
            body = {"jsonrpc": "2.0", "id": seed, "method": "broadcast_tx_sync",
                    "params": {"tx": base64.b64encode(tx).decode()}}
            answer = (await client.post("/", json=body)).json()
            if "result" in answer:
                codes[int(answer["result"]["code"])] += 1
            else:
                codes[-1] += 1
            if (seed + 1) % 2000 == 0:
                log(f"{seed + 1} txs sent")

    async with httpx.AsyncClient(base_url=rpc_url, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return codes, sent_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--tx-bytes", type=int, default=60_000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="checktx-flood-") as scratch:
        spec = LocalnetSpec(validators=1, providers=False, gateway=False,
                            base_port=free_base_port(), chain_id="race-flood",
                            timeout_commit="500ms")
        net = Localnet.create(Path(scratch) / "net", spec)
        try:
            net.start()
            net.wait_for_height(2, timeout=60)
            app_pid = net.runner(0).app.pid()
            assert app_pid is not None, "the app is not running"
            sample = refused_tx(0, spec.chain_id, args.tx_bytes)
            before = memory_kib(app_pid)
            log(f"app pid {app_pid}: {before['VmRSS'] / 1024:.0f} MiB resident; sending "
                f"{args.txs} txs of {len(sample)} bytes")
            started = time.monotonic()
            codes, sent_bytes = asyncio.run(flood(net.node(0)["rpc"], spec.chain_id,
                                                  args.txs, args.tx_bytes, args.connections))
            seconds = time.monotonic() - started
            after = memory_kib(app_pid)
            with net.rpc(0) as rpc:
                still_committing = rpc.latest_height()
        finally:
            net.stop()
    result: dict[str, Any] = {
        "txs": args.txs,
        "tx_bytes": len(sample),
        "sent_mib": round(sent_bytes / MIB, 1),
        "checktx_codes": {str(code): count for code, count in sorted(codes.items())},
        "seconds": round(seconds, 1),
        "txs_per_second": round(args.txs / seconds, 1),
        "app_rss_before_mib": round(before["VmRSS"] / 1024, 1),
        "app_rss_after_mib": round(after["VmRSS"] / 1024, 1),
        "app_peak_rss_mib": round(after["VmHWM"] / 1024, 1),
        "height_after": still_committing,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
