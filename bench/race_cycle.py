"""What a Race cycle costs on chain, and how long it takes (docs/race.md, "Measured").

In process, through the real app (tests/race_cycle/net.py drives RaceApp with signed txs
and live beacon rounds), one cycle of ``--nodes`` nodes whose trees hold ``--leaves``
leaves each (the hit count of a GPU in a 10-minute Race is about 10^5):

* chain bytes and txs per node per cycle: the commitment, the openings of ``k`` samples,
  the attestation (signed tx bytes);
* the app's CPU for the cycle's txs and blocks.

A model of 1,000 nodes at GPU hit rates: on-chain bytes per cycle from those measured
sizes (an attestation's bitmaps grow with the number of nodes), and, for a node that
fabricates x% of its leaves, the probability that all its samples are genuine and it
passes, for x = 1, 5, 20 at the default k and around it; and its expected weight against
an honest node's (passing chance times the padded count).

With ``--localnet DIR`` (a running localnet with providers) it also reads the cycles that
localnet closed: every node's txs and bytes per cycle from the blocks, each agent's
validation time as a share of the race window (HOME/agent/race/cycle-N.json), and the
cycle's timeline (block heights and times, and each agent's steps).

Usage: ``python bench/race_cycle.py [--nodes 8] [--leaves 100000] [--localnet DIR]``.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import random
import struct
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from abci_app.modules.race.params import DEFAULT_SAMPLE_SIZE  # noqa: E402
from abci_app.tx import decode_tx  # noqa: E402
from race_node.client.queries import ChainQueries, to_json  # noqa: E402
from race_node.client.rpc import CometRPC  # noqa: E402
from race_node.localnet import Localnet  # noqa: E402
from race_protocol.gen.race.v1 import query_pb2, race_pb2  # noqa: E402
from race_protocol.race.config import PAPER_CONFIG  # noqa: E402
from race_protocol.race.merkle import Leaf, ProofTree, verify_opening  # noqa: E402
from race_protocol.race.sampling import sample_ranks  # noqa: E402
from race_protocol.race.validation import critical_mismatches  # noqa: E402
from race_protocol.race.verdicts import decode, encode  # noqa: E402
from tests.harness import account  # noqa: E402
from tests.race_cycle.net import WORK_FUNCTION, RaceNet  # noqa: E402

MODEL_NODES = 1_000
MODEL_LEAVES = 100_000
FABRICATED = (0.01, 0.05, 0.20)
NEAR_MISS_SHARES = (0.10, 0.20, 0.33)
K_CHOICES = (8, 16, 32, 64, 128)
RACE_TYPES = {"/race.v1.MsgCommitProof": "commit", "/race.v1.MsgOpenProof": "open",
              "/race.v1.MsgAttest": "attest"}


def leaves(count: int, seed: int) -> list[Leaf]:
    """``count`` distinct nonces spread like a GPU's hits over ~900x as many tries."""
    rng = random.Random(seed)
    nonces = rng.sample(range(900 * count), count)
    return [Leaf(n, rng.randrange(WORK_FUNCTION["threshold_scaled"])) for n in nonces]


def in_process(nodes: int, leaf_count: int, sample_size: int) -> dict[str, Any]:
    """One cycle of ``nodes`` nodes with ``leaf_count`` leaves each, measured."""
    net = RaceNet.start(powers=[10] * nodes,
                        race_params={"sample_size": sample_size, "open_window_blocks": 4,
                                     "validation_window_blocks": 4})
    sizes: dict[str, list[int]] = {"commit": [], "open": [], "attest": []}
    original = net.chain.sign

    def measured_sign(signer: str, messages: Any, **options: Any) -> bytes:
        tx = original(signer, messages, **options)
        kind = {race_pb2.MsgCommitProof: "commit", race_pb2.MsgOpenProof: "open",
                race_pb2.MsgAttest: "attest"}.get(type(messages[0]))
        if kind is not None:
            sizes[kind].append(len(tx))
        return tx

    net.chain.sign = measured_sign  # type: ignore[method-assign]
    built = time.process_time()
    trees = {account(i): leaves(leaf_count, i) for i in range(nodes)}
    cycle = int(net.wait_for_status("racing")["cycle"])
    commits = [(op, net.commit_message(op, cycle, ls)) for op, ls in trees.items()]
    tree_cpu_s = (time.process_time() - built) / nodes
    started = time.process_time()
    net.block(commits)
    net.wait_for_status("opening")
    net.block((op, net.open_message(op, cycle)) for op in trees)
    net.wait_for_status("validating")
    net.block((a, net.attest_message(a, cycle, {op: True for op in trees if op != a}))
              for a in trees)
    net.advance_until(lambda: net.cycle(cycle)["status"] == "RACE_CYCLE_STATUS_CLOSED")
    app_cpu_s = time.process_time() - started
    closed = net.cycle(cycle)
    per_node = {kind: sum(values) / nodes for kind, values in sizes.items()}
    return {
        "nodes": nodes, "leaves_per_node": leaf_count, "sample_size": sample_size,
        "outcome": closed["outcome"], "accepted": int(closed["accepted"]),
        "txs_per_node_per_cycle": {kind: len(v) / nodes for kind, v in sizes.items()},
        "bytes_per_node_per_cycle": {**{k: round(v) for k, v in per_node.items()},
                                     "total": round(sum(per_node.values()))},
        "opening_bytes_per_sample": round(per_node["open"] / min(sample_size, leaf_count)),
        "app_cpu_s_per_cycle_incl_beacon_blocks": round(app_cpu_s, 2),
        "tree_build_cpu_s_per_node": round(tree_cpu_s, 3),
    }


def attest_bytes(nodes: int) -> int:
    """An attestation's message bytes with verdicts on ``nodes`` nodes (every bit set in
    one bitmap: the varint sizes are those of a full cycle)."""
    message = race_pb2.MsgAttest(attester=account(0), cycle=10**6,
                                 passed=encode(range(nodes - 1), nodes),
                                 failed=encode([], nodes))
    return message.ByteSize()


def pass_probability(fabricated: float, k: int, leaves_total: int = MODEL_LEAVES) -> float:
    """P(all k samples fall on genuine leaves), drawing without replacement from
    ``leaves_total`` leaves of which a share ``fabricated`` is fabricated. Every
    fabricated leaf fails recomputation (it qualifies by chance with p ~ 1/900, far below
    the binomial test's allowance being spent on it), so this is the chance to pass."""
    genuine = round(leaves_total * (1 - fabricated))
    return math.exp(math.lgamma(genuine + 1) - math.lgamma(genuine - k + 1)
                    - math.lgamma(leaves_total + 1) + math.lgamma(leaves_total - k + 1))


def chain_cpu(sample_size: int) -> dict[str, float]:
    """Each validator's CPU for one node's openings (k paths in a 10^5-leaf tree, checked
    once: CheckTx's verdict is reused in FinalizeBlock) and for one attestation's tally over
    1,000 nodes, measured here."""
    tree = ProofTree(leaves(MODEL_LEAVES, 1))
    ranks = sample_ranks(bytes(32), 1, account(0), tree.count, sample_size)
    openings = [tree.prove(rank) for rank in ranks]
    started = time.process_time()
    for _ in range(20):
        for rank, opening in zip(ranks, openings, strict=True):
            verify_opening(tree.root, tree.count, rank, opening)
    verify_s = (time.process_time() - started) / 20
    weights = [0] * MODEL_NODES
    bitmap = encode(range(MODEL_NODES), MODEL_NODES)
    started = time.process_time()
    for _ in range(20):
        packed = struct.pack(f">{MODEL_NODES}Q", *weights)
        current = list(struct.unpack(f">{MODEL_NODES}Q", packed))
        for position in decode(bitmap, MODEL_NODES):
            current[position] += 10
    tally_s = (time.process_time() - started) / 20
    return {"openings_of_one_node_s": round(verify_s, 5),
            "one_attestation_tally_s": round(tally_s, 5)}


def near_miss_pass_probability(share: float, k: int) -> float:
    """P(a sample of k holds fewer near misses than the binomial test allows), for a node
    whose leaves are a ``share`` of near misses (computed nonces just above the threshold,
    within the tolerance: they recompute as "within tolerance", never "fails"), with the
    paper config's honest mismatch rate (race_protocol/race/validation.py)."""
    allowed = critical_mismatches(k, PAPER_CONFIG.honest_mismatch_ppm / 1_000_000)
    return sum(math.comb(k, i) * share**i * (1 - share) ** (k - i) for i in range(allowed))


def model(measured: dict[str, Any]) -> dict[str, Any]:
    """1,000 nodes at GPU hit rates, from the measured tx sizes."""
    sizes = measured["bytes_per_node_per_cycle"]
    envelope = sizes["attest"] - attest_bytes(measured["nodes"])
    attest = envelope + attest_bytes(MODEL_NODES)
    per_node = sizes["commit"] + sizes["open"] + attest
    k = measured["sample_size"]
    probabilities = {f"{round(x * 100)}%": {str(choice): pass_probability(x, choice)
                                            for choice in K_CHOICES} for x in FABRICATED}
    expected_weight = {f"{round(x * 100)}%": {
        str(choice): round(pass_probability(x, choice) / (1 - x), 4)
        for choice in K_CHOICES} for x in FABRICATED}
    cpu = chain_cpu(k)
    return {
        "nodes": MODEL_NODES, "leaves_per_node": MODEL_LEAVES, "sample_size": k,
        "app_cpu_per_validator_per_cycle_s": {
            **cpu, "total_openings_and_tallies": round(
                MODEL_NODES * (cpu["openings_of_one_node_s"]
                               + cpu["one_attestation_tally_s"]), 1)},
        "bytes_per_node": {"commit": sizes["commit"], "open": sizes["open"],
                           "attest": attest, "total": per_node},
        "chain_bytes_per_cycle": per_node * MODEL_NODES,
        "chain_mb_per_cycle": round(per_node * MODEL_NODES / 1e6, 1),
        "txs_per_cycle": round(sum(measured["txs_per_node_per_cycle"].values())
                               * MODEL_NODES),
        "fabricating_node_passes": {
            pct: by_k[str(k)] for pct, by_k in probabilities.items()},
        "fabricating_node_passes_by_k": probabilities,
        "fabricating_node_expected_weight_vs_honest_by_k": expected_weight,
        "near_miss_padding_passes_by_k": {
            f"{round(x * 100)}%": {str(choice): round(near_miss_pass_probability(x, choice), 4)
                                   for choice in K_CHOICES} for x in NEAR_MISS_SHARES},
    }


# --- a running localnet ------------------------------------------------------------------

def _header_time(rpc: CometRPC, height: int) -> float:
    header = rpc.block(height)["block"]["header"]
    return datetime.fromisoformat(header["time"][:26].rstrip("Z") + "+00:00").timestamp()


def localnet(directory: Path, cycles: int) -> dict[str, Any]:
    """Txs, bytes, validation shares and the timeline of the last closed cycles."""
    net = Localnet(directory)
    operators = {net.keyring(i).show("validator").address: i for i in range(net.size)}
    with net.rpc(0, timeout=10) as rpc:
        queries = ChainQueries(rpc)
        current = int(to_json(queries.call("RaceStatus"))["cycle"]["cycle"])
        report = []
        for number in range(max(1, current - cycles), current):
            cycle = to_json(queries.call("RaceCycle", query_pb2.QueryRaceCycleRequest(
                cycle=number)))["cycle"]
            if cycle["status"] != "RACE_CYCLE_STATUS_CLOSED" or \
                    not int(cycle["validation_end_height"]):
                continue
            heights = {
                "seed_output": int(cycle["race_start_height"]) - 1,
                "race_start": int(cycle["race_start_height"]),
                "race_end": int(cycle["race_end_height"]),
                "commit_deadline": int(cycle["commit_end_height"]),
                "samples_drawn": int(cycle["opened_height"]),
                "open_deadline": int(cycle["open_end_height"]),
                "boundary": int(cycle["validation_end_height"]),
            }
            times = {name: _header_time(rpc, h) for name, h in heights.items()}
            start = times["seed_output"]
            txs: dict[str, dict[str, int]] = {}
            for height in range(heights["race_start"], heights["boundary"] + 1):
                block = rpc.block(height)["block"]
                for raw in block["data"]["txs"] or []:
                    tx = base64.b64decode(raw)
                    decoded = decode_tx(tx)
                    kind = RACE_TYPES.get(decoded.messages[0].type_url) \
                        if decoded.messages else None
                    if kind is None:
                        continue
                    entry = txs.setdefault(decoded.signer, {"txs": 0, "bytes": 0})
                    entry["txs"] += 1
                    entry["bytes"] += len(tx)
            race_window_s = times["race_end"] - times["race_start"]
            agents = {}
            for index in operators.values():
                path = net.home(index).root / "agent" / "race" / f"cycle-{number}.json"
                if not path.is_file():
                    continue
                record = json.loads(path.read_text())
                agents[f"node{index}"] = {
                    "validation_s": round(record["validation_s"], 3),
                    "validated_nonces": record["validated_nonces"],
                    "validation_share_of_race_window": round(
                        record["validation_s"] / race_window_s, 4) if race_window_s else None,
                    "hits": len(record["hits"] or []),
                    "race": record["race_stats"],
                    "steps_s_after_seed_output": {
                        step: round(at - start, 2) for step, at in record["timeline"].items()},
                }
            report.append({
                "cycle": number, "outcome": cycle["outcome"],
                "blocks": heights,
                "seconds_after_seed_output": {k: round(v - start, 2) for k, v in times.items()},
                "cycle_seconds": round(times["boundary"] - start, 2),
                "txs_and_bytes_per_node": {
                    f"node{operators[s]}" if s in operators else s: v for s, v in txs.items()},
                "agents": agents,
            })
    return {"directory": str(directory), "cycles": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--leaves", type=int, default=MODEL_LEAVES)
    parser.add_argument("--sample-size", type=int, default=DEFAULT_SAMPLE_SIZE)
    parser.add_argument("--localnet", type=Path, default=None,
                        help="a running localnet with providers to read cycles from")
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    measured = in_process(args.nodes, args.leaves, args.sample_size)
    result: dict[str, Any] = {
        "bench": "race_cycle",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "in_process": measured,
        "model_1000_nodes": model(measured),
    }
    if args.localnet is not None:
        result["localnet"] = localnet(args.localnet, args.cycles)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
