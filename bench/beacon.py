"""What a beacon round costs (whitepaper Appendix B; docs/beacon.md, "Cost").

In process, through the real app (tests/harness.py drives RaceApp with signed txs), for
rounds of 4, 16, 64 and 128 equally weighted participants (one share unit each, so the
threshold is just over half of them), one of which withholds its reveal so the round
pays for a recovery too. For each size it reports:

* chain bytes and txs per round (deals, reveals, recovery posts; tx bytes as signed);
* the app's CPU per round: CheckTx of every tx plus FinalizeBlock and Commit of every
  block of the round (each validator pays this);
* one agent's CPU per round: building its deal, its reveal, and its recovery post;
* the time from the round's start to its output: the round's blocks (the schedule is
  fixed), and seconds at ``--block-interval-s``;

With ``--localnet DIR`` it also reads the rounds a running localnet completed and reports
their measured start-to-output time from the block headers.

Usage: ``python bench/beacon.py [--quick] [--sizes 4,16,64,128] [--localnet DIR]``.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from race_node.client.queries import ChainQueries  # noqa: E402
from race_node.client.rpc import CometRPC  # noqa: E402
from race_node.localnet import Localnet  # noqa: E402
from race_protocol.beacon.keys import EncryptionKey  # noqa: E402
from race_protocol.beacon.output import round_output  # noqa: E402
from race_protocol.beacon.participant import (  # noqa: E402
    Holder,
    deal_message,
    new_secret,
    recover_message,
    register_key_message,
    reveal_message,
)
from race_protocol.beacon.pvss import contribution  # noqa: E402
from race_protocol.gen.race.v1 import query_pb2  # noqa: E402
from tests.harness import CHAIN_ID, Chain, account  # noqa: E402

WINDOWS = {"commit_window_blocks": 3, "reveal_window_blocks": 3, "recovery_window_blocks": 3}
# Blocks on the four-validator localnet at its default timeouts (localnet/localnet.toml):
# 30-block rounds took 24.4 s there (--localnet).
DEFAULT_BLOCK_INTERVAL_S = 0.8


class Meter:
    """CPU seconds of this process, summed over the timed sections."""

    def __init__(self) -> None:
        self.cpu_s = 0.0

    def __enter__(self) -> Meter:
        self._start = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu_s += time.process_time() - self._start


def one_round(size: int) -> dict[str, Any]:
    """One round of ``size`` participants with one withholder, measured."""
    params = {**WINDOWS, "max_participants": size, "max_share_units": max(size, 64)}
    chain = Chain([10] * size, {"beacon": {"params": params}})
    operators = [account(i) for i in range(size)]
    keys = {op: EncryptionKey.generate() for op in operators}
    register = [chain.sign(op, [register_key_message(keys[op], CHAIN_ID, op)])
                for op in operators]
    assert all(r.ok for r in chain.deliver_txs(register))
    answer = chain.query("/beacon/round/0")
    entry = answer["round"]
    round_id, threshold = int(entry["round"]), int(entry["threshold_units"])
    holders = [Holder(p["address"], int(p["first_index"]), int(p["units"]),
                      bytes.fromhex(p["public_key"])) for p in answer["participants"]]
    withholder = operators[0]  # it deals, then withholds its reveal
    app, agent = Meter(), Meter()
    txs: dict[str, list[bytes]] = {"deal": [], "reveal": [], "recover": []}

    def deliver(kind: str, signed: list[bytes]) -> None:
        txs[kind].extend(signed)
        with app:
            for tx in signed:
                assert chain.check(tx).code == 0
            outcomes = chain.deliver_txs(signed)
        assert all(o.ok for o in outcomes), [o.log for o in outcomes if not o.ok][:1]

    def advance_to(height: int) -> None:
        with app:
            chain.advance_to(height)

    advance_to(int(entry["start_height"]))
    secrets = {op: new_secret() for op in operators}
    deals = []
    for op in operators:
        with agent:
            message = deal_message(secrets[op], CHAIN_ID, round_id, op, threshold, holders)
        deals.append(chain.sign(op, [message]))
    agent_deal_s = agent.cpu_s / size
    deliver("deal", deals)
    advance_to(int(entry["commit_end_height"]) + 1)
    before = agent.cpu_s
    reveals = []
    for op in operators[1:]:
        with agent:
            message = reveal_message(secrets[op], round_id, op)
        reveals.append(chain.sign(op, [message]))
    agent_reveal_s = (agent.cpu_s - before) / len(reveals)
    deliver("reveal", reveals)
    advance_to(int(entry["reveal_end_height"]) + 1)
    withheld = {withholder: [bytes.fromhex(y) for y in chain.query(
        f"/beacon/deal/{round_id}/{withholder}")["encrypted_shares"]]}
    before = agent.cpu_s
    posts = []
    by_address = {h.address: h for h in holders}
    for op in operators[1:]:
        with agent:
            message = recover_message(keys[op], CHAIN_ID, round_id, by_address[op], withheld)
        posts.append(chain.sign(op, [message]))
    agent_recover_s = (agent.cpu_s - before) / len(posts)
    deliver("recover", posts)
    advance_to(int(entry["end_height"]) + 1)
    final = chain.query(f"/beacon/round/{round_id}")
    expected = round_output(round_id, [(op, contribution(s)) for op, s in secrets.items()])
    assert final["round"]["status"] == "BEACON_ROUND_STATUS_COMPLETE", final["round"]
    assert bytes.fromhex(final["round"]["output"]) == expected
    chain.close()
    blocks = int(entry["end_height"]) - int(entry["start_height"]) + 1
    all_txs = [tx for kind in txs.values() for tx in kind]
    return {
        "participants": size,
        "share_units": int(entry["total_units"]),
        "threshold_units": threshold,
        "txs_per_round": {kind: len(signed) for kind, signed in txs.items()}
                         | {"total": len(all_txs)},
        "chain_bytes_per_round": sum(len(tx) for tx in all_txs),
        "tx_bytes": {kind: (max(len(tx) for tx in signed) if signed else 0)
                     for kind, signed in txs.items()},
        "app_cpu_s_per_round": round(app.cpu_s, 3),
        "app_cpu_ms_per_participant": round(1000 * app.cpu_s / size, 2),
        "agent_cpu_ms": {"deal": round(1000 * agent_deal_s, 2),
                         "reveal": round(1000 * agent_reveal_s, 3),
                         "recover_one_withheld": round(1000 * agent_recover_s, 2)},
        "start_to_output_blocks": blocks,
    }


def localnet_rounds(directory: Path) -> dict[str, Any]:
    """Start-to-output seconds of the rounds a running localnet completed (block headers)."""
    net = Localnet(directory)
    durations = []
    with net.rpc(0, timeout=10) as rpc:
        queries = ChainQueries(rpc)
        latest = queries.call_json("BeaconLatest")
        last = int(latest["round"])
        for round_id in range(max(1, last - 9), last + 1):
            entry = queries.call_json("BeaconRound", query_pb2.QueryBeaconRoundRequest(
                round=round_id))["round"]
            # The round opens in the block before its commit window.
            opened = _block_time(rpc, int(entry["start_height"]) - 1)
            final = _block_time(rpc, int(entry["end_height"]))
            durations.append({"round": round_id, "status": entry["status"],
                              "seconds": round(final - opened, 3)})
    seconds = sorted(d["seconds"] for d in durations)
    return {"rounds": durations,
            "median_start_to_output_s": seconds[len(seconds) // 2] if seconds else None}


def _block_time(rpc: CometRPC, height: int) -> float:
    header = rpc.block(height)["block"]["header"]
    return datetime.fromisoformat(header["time"][:26].rstrip("Z") + "+00:00").timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,16,64,128",
                        help="participant counts, comma-separated")
    parser.add_argument("--quick", action="store_true", help="only 4 and 16 participants")
    parser.add_argument("--block-interval-s", type=float, default=DEFAULT_BLOCK_INTERVAL_S)
    parser.add_argument("--localnet", type=Path, help="also measure a running localnet")
    args = parser.parse_args()
    sizes = [4, 16] if args.quick else [int(s) for s in args.sizes.split(",")]
    scaling = []
    for size in sizes:
        result = one_round(size)
        result["start_to_output_s_at_block_interval"] = round(
            result["start_to_output_blocks"] * args.block_interval_s, 2)
        scaling.append(result)
        print(f"{size} participants: {result['chain_bytes_per_round']} bytes, "
              f"app {result['app_cpu_s_per_round']} s CPU per round", file=sys.stderr)
    report: dict[str, Any] = {
        "benchmark": "beacon",
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "machine": platform.machine()},
        "windows_blocks": WINDOWS,
        "block_interval_s": args.block_interval_s,
        "withholders_per_round": 1,
        "scaling": scaling,
    }
    if args.localnet is not None:
        report["localnet"] = localnet_rounds(args.localnet)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
