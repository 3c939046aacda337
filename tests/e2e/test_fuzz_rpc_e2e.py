"""Fuzz through the front door: on a four-validator localnet, at least 10,000 random and
mutated txs go in through CometBFT's RPC (``broadcast_tx_async`` in batches, some
``broadcast_tx_sync``), with the valid txs mixed in, then replays of every committed tx,
and malformed ABCI queries (tests/e2e/rpc_fuzz.py says what is sent).

Afterwards no process has halted, the chain still commits, every node reports the same
app hash at the same height, the invariants (the bank's supply among them) hold on every
node, and every valid tx is committed exactly once while nothing else is. The figures are
printed as one JSON line (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from localnet_ports import free_port_block
from rpc_fuzz import FuzzRun, Senders

from race_node.client.rpc import CometRPC, tx_hash
from race_node.localnet import Localnet, LocalnetSpec

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(420)]

VALIDATORS = 4
SEED = 20_251_128
FUZZ_CASES = 10_000
SYNC_CASES = 200
QUERIES = 300
VALID_SENDERS, WHOLE_SENDERS, FUZZ_SENDERS = 40, 8, 20
TXS_PER_SENDER = 5
BALANCE = 10**12


def converged(net: Localnet, timeout: float = 60.0) -> tuple[int, set[str]]:
    """Every node's app (height, app hash), read until all report the same height."""
    deadline = time.monotonic() + timeout
    while True:
        reports = []
        for index in range(VALIDATORS):
            with net.rpc(index, timeout=10) as rpc:
                info = rpc.abci_info()
            reports.append((int(info["last_block_height"]), info["last_block_app_hash"]))
        heights = {height for height, _ in reports}
        if len(heights) == 1 or time.monotonic() > deadline:
            return max(heights), {app_hash for _, app_hash in reports}
        time.sleep(0.2)


def wait_for_sequences(rpc: CometRPC, expected: dict[str, int], timeout: float) -> dict:
    """Poll each sender's account until it reaches its expected sequence (or time runs out)."""
    deadline = time.monotonic() + timeout
    pending = dict(expected)
    while pending and time.monotonic() < deadline:
        for address in sorted(pending):
            found = rpc.abci_query(f"/auth/account/{address}")
            if found.code == 0 and json.loads(found.value)["sequence"] >= pending[address]:
                del pending[address]
        time.sleep(0.3)
    return pending


def committed_txs(rpc: CometRPC, last_height: int) -> tuple[Counter[str], dict[str, int]]:
    """How often each tx hash is in a block up to ``last_height``, and its result code."""
    seen: Counter[str] = Counter()
    codes: dict[str, int] = {}
    for height in range(1, last_height + 1):
        hashes = rpc.block_tx_hashes(height)
        if not hashes:
            continue
        results = rpc.block_results(height).txs
        for digest, result in zip(hashes, results, strict=True):
            seen[digest] += 1
            codes[digest] = result.code
    return seen, codes


def test_fuzzed_txs_and_queries_through_the_rpc_leave_one_chain(localnet_dir: Path) -> None:
    started = time.monotonic()
    senders = Senders.make(VALID_SENDERS, WHOLE_SENDERS, FUZZ_SENDERS, BALANCE)
    spec = LocalnetSpec(validators=VALIDATORS, base_port=free_port_block(VALIDATORS),
                        chain_id="race-fuzz", providers=False, gateway=False,
                        timeout_commit="200ms")
    net = Localnet.create(localnet_dir, spec, extra_balances=senders.balances())
    net.start()
    net.wait_for_height(2, timeout=60)
    run = FuzzRun(spec.chain_id, senders, random.Random(SEED))
    run.build_valid(TXS_PER_SENDER)
    valid_by_node: list[list[bytes]] = [[] for _ in range(VALIDATORS)]
    for position, txs in enumerate(run.valid_by_sender):
        # A sender's txs all go to one node, in sequence order.
        valid_by_node[position % VALIDATORS].extend(txs)
    mutants = [run.mutant() for _ in range(FUZZ_CASES)]
    run.cases.update(kind for kind, _ in mutants)
    clients = [httpx.Client(base_url=net.node(i)["rpc"], timeout=30)
               for i in range(VALIDATORS)]
    height_before = converged(net)[0]

    sync_codes = [run.broadcast_sync(clients[i % VALIDATORS], tx)
                  for i, (_, tx) in enumerate(mutants[:SYNC_CASES])]
    rest = [tx for _, tx in mutants[SYNC_CASES:]]
    share = len(rest) // VALIDATORS + 1
    for index, client in enumerate(clients):
        ours = rest[index * share:(index + 1) * share]
        valid = valid_by_node[index]
        step = max(1, len(ours) // (len(valid) + 1))
        for turn in range(len(valid) + 1):
            run.broadcast_async(client, ours[turn * step:(turn + 1) * step])
            if turn < len(valid):
                run.broadcast_async(client, [valid[turn]])
        run.broadcast_async(client, ours[(len(valid) + 1) * step:])
        for _ in range(QUERIES // VALIDATORS):
            run.odd_query(client)
    missing = wait_for_sequences(CometRPC(net.node(0)["rpc"]), run.expected_sequences, 120)
    assert missing == {}, f"valid txs never committed: {missing}"

    replay_codes = [run.broadcast_sync(clients[i % VALIDATORS], tx)
                    for i, tx in enumerate(run.valid[:20])]
    for index, client in enumerate(clients):
        run.broadcast_async(client, run.valid[index::VALIDATORS])
    with net.rpc(0) as rpc:
        rpc.wait_for_height(rpc.latest_height() + 3, timeout=30)

    height, app_hashes = converged(net)
    invariants = []
    for index in range(VALIDATORS):
        with net.rpc(index) as rpc:
            invariants.append(json.loads(rpc.abci_query("/app/invariants").value)["broken"])
    with net.rpc(0, timeout=30) as rpc:
        seen, codes = committed_txs(rpc, height)
    halted = [s.name for s in net.status(query_rpc=False) if not s.running]
    halt_logs = [i for i in range(VALIDATORS)
                 if "halting" in (net.home(i).logs_dir / "app.log").read_text()]
    for client in clients:
        client.close()
    valid_hashes = {tx_hash(tx) for tx in run.valid}
    sent_txs = len(mutants) + 2 * len(run.valid) + len(replay_codes)
    figures = {
        "txs_sent": sent_txs, "fuzz_cases": len(mutants), "valid_txs": len(run.valid),
        "replays": len(run.valid) + len(replay_codes), "queries": run.queries,
        "rejected": sent_txs - sum(seen.values()), "refused_by_rpc": run.rpc_errors,
        "committed": sum(seen.values()), "halts": len(halted) + len(halt_logs),
        "distinct_app_hashes": len(app_hashes), "height": height,
        "blocks_during_fuzz": height - height_before,
        "query_codes": {str(k): v for k, v in sorted(run.query_codes.items())},
        "cases": dict(sorted(run.cases.items())),
        "seconds": round(time.monotonic() - started, 1),
    }
    print("fuzz figures:", json.dumps(figures))

    assert halted == [] and halt_logs == []
    assert len(app_hashes) == 1
    assert height > height_before
    assert invariants == [[]] * VALIDATORS
    assert all(code != 0 for code in sync_codes if code is not None)
    assert all(code != 0 for code in replay_codes if code is not None)
    assert set(seen) == valid_hashes, "a tx other than the valid ones was committed"
    assert {seen[h] for h in valid_hashes} == {1}
    assert {codes[h] for h in valid_hashes} == {0}
