"""Per-tx cost of the ABCI app's hot path, in process (no sockets, no CometBFT).

Builds a chain with one funded sender per tx (every tx touches fresh accounts, the
benchmark's worst case for reads), then for blocks of ``--block`` txs times:
CheckTx of each tx (signature verified), FinalizeBlock of the block (signature already
verified: cached by tx hash), Commit. Reports wall and CPU microseconds per tx, taking
the best of ``--repeat`` runs because the host is shared and noisy.

Usage: ``python bench/chain_finalize_inprocess.py [--quick] [--txs N] [--block N]``.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import abci_app.tx as txlib  # noqa: E402
from abci_app.app import RaceApp  # noqa: E402
from abci_app.genesis import build_app_state  # noqa: E402
from race_protocol.gen.race.v1.bank_pb2 import MsgSend  # noqa: E402
from race_protocol.gen.tendermint.abci import types_pb2 as abci  # noqa: E402

CHAIN_ID = "race-bench"


def one_run(count: int, block_size: int) -> dict[str, float]:
    keys = [txlib.private_key_from_bytes((i + 1).to_bytes(32, "big")) for i in range(count)]
    senders = [txlib.address_from_public_key(txlib.public_key_bytes(k)) for k in keys]
    recipients = [
        txlib.address_from_public_key(txlib.public_key_bytes(
            txlib.private_key_from_bytes((10**6 + i).to_bytes(32, "big"))))
        for i in range(count)
    ]
    work = Path(tempfile.mkdtemp(prefix="race-finalize-bench-"))
    app = RaceApp(work / "app.db")
    try:
        init = abci.RequestInitChain(
            chain_id=CHAIN_ID, initial_height=1,
            app_state_bytes=json.dumps(build_app_state({a: 10**12 for a in senders})).encode())
        validator = init.validators.add()
        validator.pub_key.ed25519 = bytes(range(32))
        validator.power = 10
        app.init_chain(init)
        app.finalize_block(abci.RequestFinalizeBlock(height=1))
        app.commit(abci.RequestCommit())
        fee = json.loads(app.query(abci.RequestQuery(path="/auth/params")).value)["min_fee_nicoin"]
        txs = [
            txlib.build_signed_tx(key, CHAIN_ID, 0, fee, [
                MsgSend(from_address=sender, to_address=recipient, amount_nicoin=5)])
            for key, sender, recipient in zip(keys, senders, recipients, strict=True)
        ]
        totals = dict.fromkeys(("check", "finalize", "commit", "check_cpu", "finalize_cpu"), 0.0)
        blocks = 0
        for height, start in enumerate(range(0, count, block_size), start=2):
            block = txs[start:start + block_size]
            t0, c0 = time.perf_counter(), time.process_time()
            for tx in block:
                app.check_tx(abci.RequestCheckTx(tx=tx))
            t1, c1 = time.perf_counter(), time.process_time()
            response = app.finalize_block(abci.RequestFinalizeBlock(
                txs=block, height=height, hash=height.to_bytes(32, "big")))
            t2, c2 = time.perf_counter(), time.process_time()
            app.commit(abci.RequestCommit())
            t3 = time.perf_counter()
            if any(r.code for r in response.tx_results):
                raise RuntimeError("a benchmark tx failed")
            totals["check"] += t1 - t0
            totals["finalize"] += t2 - t1
            totals["commit"] += t3 - t2
            totals["check_cpu"] += c1 - c0
            totals["finalize_cpu"] += c2 - c1
            blocks += 1
        return {
            "check_tx_us": 1e6 * totals["check"] / count,
            "check_tx_cpu_us": 1e6 * totals["check_cpu"] / count,
            "finalize_us_per_tx": 1e6 * totals["finalize"] / count,
            "finalize_cpu_us_per_tx": 1e6 * totals["finalize_cpu"] / count,
            "commit_ms": 1e3 * totals["commit"] / blocks,
            "commit_us_per_tx": 1e6 * totals["commit"] / count,
        }
    finally:
        app.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 txs, 2 runs")
    parser.add_argument("--txs", type=int, default=5000)
    parser.add_argument("--block", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count, repeat = (2000, 2) if args.quick else (args.txs, args.repeat)
    runs = [one_run(count, args.block) for _ in range(repeat)]
    best = {key: round(min(run[key] for run in runs), 1) for key in runs[0]}
    best["ceiling_tps_one_core"] = round(
        1e6 / (best["check_tx_us"] + best["finalize_us_per_tx"] + best["commit_us_per_tx"]), 1)
    print(json.dumps({**best, "txs": count, "block_txs": args.block, "runs": repeat}))


if __name__ == "__main__":
    main()
