"""Tickets settled per second: the chain's work per settled request (DESIGN.md 7.4).

Two measurements of the same workload: executors settling relay-signed tickets in
``MsgSettleTickets`` batches (``--batch`` tickets per tx, the default
``inference.max_tickets_per_settlement``), each ticket charging one of ``--keys`` API keys.

* **in process**: the ABCI app driven directly (no sockets, no CometBFT): CheckTx of
  every tx, FinalizeBlock, Commit. Reports settled tickets per second of the app's time
  and the app's CPU per settled ticket, split by phase.
* **localnet**: a one-validator localnet (CometBFT + the app over its socket); the txs,
  pre-signed, are sent as fast as the node takes them (bench/chain_tps.py's load
  generator); settled tickets per second from the first send to the block holding the
  last tx, and each process's CPU per settled ticket.

Target: >= 5,000 settled requests per second on one node.
Usage: ``python bench/settlement.py [--quick] [--tickets N] [--batch N] [--skip-localnet]``.
Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import abci_app.tx as txlib  # noqa: E402
from abci_app.app import RaceApp  # noqa: E402
from abci_app.genesis import build_app_state  # noqa: E402
from abci_app.modules.inference.keeper import escrow_address  # noqa: E402
from bench.chain_tps import ChainSettings, count_failed_txs, free_port_block, measure  # noqa: E402
from race_node.localnet import Localnet, LocalnetSpec  # noqa: E402
from race_protocol.gen.race.v1 import inference_pb2 as pb  # noqa: E402
from race_protocol.gen.tendermint.abci import types_pb2 as abci  # noqa: E402
from race_protocol.inference.ticket import (  # noqa: E402
    encode_ticket,
    new_request_id,
    ticket_signing_bytes,
)

CHAIN_ID = "race-bench"
MODEL = "bench-model"
KEY_BUDGET = 10**15
PRICE = 1000


def log(message: str) -> None:
    print(f"[settlement] {message}", file=sys.stderr, flush=True)


class Workload:
    """Accounts, keys, a relay, and the signed settlement txs (built before any clock)."""

    def __init__(self, tickets: int, batch: int, keys: int) -> None:
        self.batch = batch
        self.txs_count = (tickets + batch - 1) // batch
        self.tickets = self.txs_count * batch
        self.relay = txlib.private_key_from_bytes((7).to_bytes(32, "big"))
        self.executors = [txlib.private_key_from_bytes((1000 + i).to_bytes(32, "big"))
                          for i in range(self.txs_count)]
        self.addresses = [txlib.address_from_public_key(txlib.public_key_bytes(k))
                          for k in self.executors]
        self.key_hashes = [i.to_bytes(32, "big") for i in range(1, keys + 1)]
        owner = self.addresses[0]
        self.sections: dict[str, Any] = {
            "models": {"models": [{"id": MODEL, "hf_repo": "bench/model", "revision": "main",
                                   "units_of_compute_per_token": 1, "max_context": 4096,
                                   "validation_threshold_ppm": 990_000}]},
            "inference": {
                "relays": [{"public_key": txlib.public_key_bytes(self.relay).hex(),
                            "owner": owner}],
                "keys": [{"key_hash": h.hex(), "owner": owner, "budget": str(KEY_BUDGET)}
                         for h in self.key_hashes],
            },
        }
        self.params = {"pricing": {"genesis_price_per_unit_nicoin": PRICE},
                       "inference": {"ticket_validity_blocks": 10_000,
                                     "max_tickets_per_settlement": max(batch, 200)},
                       "auth": {"max_tx_bytes": 1024 * 1024}}

    def balances(self) -> dict[str, int]:
        return {**dict.fromkeys(self.addresses, 10**12),
                escrow_address(): KEY_BUDGET * len(self.key_hashes)}

    def app_state(self) -> dict[str, Any]:
        state = build_app_state(self.balances(), params=self.params)
        for module, section in self.sections.items():
            state[module].update(section)
        return state

    def sign(self, chain_id: str, height: int, fee: int) -> list[bytes]:
        txs = []
        relay_key = txlib.public_key_bytes(self.relay)
        for index, (key, executor) in enumerate(zip(self.executors, self.addresses,
                                                    strict=True)):
            items = []
            for n in range(self.batch):
                ticket = pb.Ticket(
                    request_id=new_request_id(),
                    key_hash=self.key_hashes[(index * self.batch + n) % len(self.key_hashes)],
                    model=MODEL, max_cost_nicoin=10**9, executor=executor, relay=relay_key,
                    height=height, prompt_hash=b"\x01" * 32, beacon_round=1, attempt=0)
                raw = encode_ticket(ticket)
                items.append(pb.SettledTicket(
                    ticket=raw, signature=self.relay.sign(ticket_signing_bytes(chain_id, raw)),
                    prompt_tokens=40, completion_tokens=120, output_commitment=b"\x02" * 32))
            txs.append(txlib.build_signed_tx(key, chain_id, 0, fee, [
                pb.MsgSettleTickets(executor=executor, tickets=items)]))
        return txs


def in_process(workload: Workload, block_txs: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="race-settlement-bench-"))
    app = RaceApp(work / "app.db")
    try:
        init = abci.RequestInitChain(chain_id=CHAIN_ID, initial_height=1,
                                     app_state_bytes=json.dumps(workload.app_state()).encode())
        validator = init.validators.add()
        validator.pub_key.ed25519 = bytes(range(32))
        validator.power = 10
        app.init_chain(init)
        app.finalize_block(abci.RequestFinalizeBlock(height=1))
        app.commit(abci.RequestCommit())
        fee = json.loads(app.query(abci.RequestQuery(path="/auth/params")).value)[
            "min_fee_nicoin"]
        txs = workload.sign(CHAIN_ID, 1, int(fee))
        timings = dict.fromkeys(("check", "finalize", "commit"), 0.0)
        cpu = dict.fromkeys(("check", "finalize", "commit"), 0.0)
        for height, start in enumerate(range(0, len(txs), block_txs), start=2):
            block = txs[start:start + block_txs]
            t0, c0 = time.perf_counter(), time.process_time()
            for tx in block:
                checked = app.check_tx(abci.RequestCheckTx(tx=tx))
                if checked.code:
                    raise RuntimeError(f"CheckTx refused a settlement: {checked.log}")
            t1, c1 = time.perf_counter(), time.process_time()
            response = app.finalize_block(abci.RequestFinalizeBlock(
                txs=block, height=height, hash=height.to_bytes(32, "big")))
            t2, c2 = time.perf_counter(), time.process_time()
            app.commit(abci.RequestCommit())
            t3, c3 = time.perf_counter(), time.process_time()
            failed = [r.log for r in response.tx_results if r.code]
            if failed:
                raise RuntimeError(f"a settlement failed: {failed[0]}")
            for phase, (a, b), (ca, cb) in (("check", (t0, t1), (c0, c1)),
                                           ("finalize", (t1, t2), (c1, c2)),
                                           ("commit", (t2, t3), (c2, c3))):
                timings[phase] += b - a
                cpu[phase] += cb - ca
        total = sum(timings.values())
        return {
            "settled_per_s": round(workload.tickets / total, 1),
            "app_cpu_us_per_ticket": round(1e6 * sum(cpu.values()) / workload.tickets, 1),
            **{f"{phase}_cpu_us_per_ticket": round(1e6 * cpu[phase] / workload.tickets, 1)
               for phase in cpu},
            "blocks": (len(txs) + block_txs - 1) // block_txs,
        }
    finally:
        app.close()
        shutil.rmtree(work, ignore_errors=True)


def on_localnet(workload: Workload, settings: ChainSettings,
                timeout: float) -> dict[str, Any]:

    work = Path(tempfile.mkdtemp(prefix="race-settlement-localnet-"))
    base = free_port_block()
    spec = LocalnetSpec(validators=1, chain_id=CHAIN_ID, base_port=base,
                        timeout_commit=settings.timeout_commit, create_empty_blocks=True,
                        providers=False, gateway=False, params=workload.params)
    net = Localnet.create(work / "net", spec, extra_balances=workload.balances(),
                          config_overrides=settings.config_values(base + 3))
    genesis_path = net.home(0).genesis
    genesis = json.loads(genesis_path.read_text())
    for module, section in workload.sections.items():
        genesis["app_state"][module].update(section)
    genesis_path.write_text(json.dumps(genesis))
    net.start()
    try:
        with net.rpc(0) as rpc:
            rpc.wait_for_height(2, timeout=60)
            fee = int((rpc.abci_query("/auth/params").json() or {}).get("min_fee_nicoin", 0))
        log(f"localnet: signing {workload.txs_count} settlements of {workload.batch} tickets")
        txs = workload.sign(CHAIN_ID, 1, fee)
        runner = net.runner(0)
        pids = {"cometbft": runner.cometbft.pid(), "app": runner.app.pid()}
        result = measure("localnet", net.node(0)["rpc"], f"http://127.0.0.1:{base + 3}/metrics",
                         txs, settings, timeout, count_failed_txs,
                         {name: pid for name, pid in pids.items() if pid})
    finally:
        net.stop()
        shutil.rmtree(work, ignore_errors=True)
    settled = (result["committed_txs"] - result["failed_txs"]) * workload.batch
    return {
        "settled_per_s": round(settled / max(result["seconds"], 1e-9), 1),
        "settled": settled,
        "failed_txs": result["failed_txs"],
        "seconds": result["seconds"],
        "blocks": result["blocks"],
        "cpu_us_per_ticket": {name: round(us / workload.batch, 1)
                              for name, us in result["cpu_us_per_tx"].items()},
        "check_tx_us_per_ticket": round(result["check_tx_us"] / workload.batch, 1),
        "finalize_us_per_ticket": round(result["finalize_us_per_tx"] / workload.batch, 1),
        "commit_ms": round(result["commit_ms"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 tickets")
    parser.add_argument("--tickets", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--block-txs", type=int, default=50)
    parser.add_argument("--skip-localnet", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    tickets = 10_000 if args.quick else args.tickets
    workload = Workload(tickets, args.batch, args.keys)
    log(f"in process: {workload.tickets} tickets in {workload.txs_count} settlements")
    result: dict[str, Any] = {"tickets": workload.tickets, "batch": args.batch,
                              "keys": args.keys, "in_process": in_process(workload,
                                                                          args.block_txs)}
    log(f"in process: {result['in_process']}")
    if not args.skip_localnet:
        settings = ChainSettings(timeout_commit="500ms", mempool_size=20_000, backlog=40,
                                 batch=4, connections=2)
        result["localnet"] = on_localnet(workload, settings, args.timeout)
        log(f"localnet: {result['localnet']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
