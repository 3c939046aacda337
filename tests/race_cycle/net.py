"""An in-process Race network for tests and the bench: the real app (tests/harness.py)
whose validators take part in beacon rounds on their own (tests/beacon/net.py's helpers)
and in Race cycles through the same protocol code the agent uses: trees from
race_protocol.race.merkle, samples from the chain, verdict bitmaps from
race_protocol.race.verdicts.

Each validator ``i`` is operated by ``account(i)`` and, by default, is a provider (the
genesis validators race). Leaves are synthetic: distinct nonces with distances under the
threshold; the chain never recomputes them (validators do, on their sidecars), so a
test decides each attester's verdicts itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from race_protocol.beacon.participant import deal_message, new_secret, reveal_message
from race_protocol.gen.race.v1 import race_pb2
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from race_protocol.race.config import SMALL_CONFIG
from race_protocol.race.merkle import Leaf, ProofTree, pack_siblings
from race_protocol.race.verdicts import encode
from tests.beacon.net import BeaconNet
from tests.harness import CHAIN_ID, Chain, Event, Outcome, account

BEACON_WINDOWS = {"commit_window_blocks": 2, "reveal_window_blocks": 2,
                  "recovery_window_blocks": 2}
WORK_FUNCTION = {name: getattr(SMALL_CONFIG, name) for name in (
    "n_layers", "n_heads", "d_model", "vocab_size", "ffn_hidden", "seq_len",
    "hit_rate_denominator", "threshold_scaled", "tolerance_scaled", "honest_mismatch_ppm")}
RACE_PARAMS = {"race_window_blocks": 4, "commit_window_blocks": 2, "open_window_blocks": 3,
               "validation_window_blocks": 3, "sample_size": 8, **WORK_FUNCTION}

# Verdicts an attester gives: operator -> True (passes) / False (fails); absent: not judged.
Verdicts = Mapping[str, bool]


def _events(raw: Iterable[abci.Event]) -> list[Event]:
    return [Event(e.type, [(a.key, a.value) for a in e.attributes]) for e in raw]


def synthetic_leaves(count: int, seed: int, threshold: int = SMALL_CONFIG.threshold_scaled,
                     ) -> list[Leaf]:
    """``count`` distinct nonces with distances under ``threshold``."""
    rng = random.Random(seed)
    nonces = rng.sample(range(1 << 40), count)
    return [Leaf(nonce, rng.randrange(threshold)) for nonce in nonces]


def opening_message(operator: str, cycle: int, tree: ProofTree, ranks: Sequence[int],
                    samples: Iterable[int] | None = None) -> race_pb2.MsgOpenProof:
    """The openings of ``samples`` (default all) of ``ranks`` from ``tree``."""
    message = race_pb2.MsgOpenProof(operator=operator, cycle=cycle)
    for sample in (range(len(ranks)) if samples is None else samples):
        opening = tree.prove(ranks[sample])
        mask, hashes, counts = pack_siblings(opening.siblings)
        message.openings.add(sample=sample, nonce=opening.leaf.nonce,
                             distance_scaled=opening.leaf.distance_scaled,
                             depth=opening.depth, empty_siblings=mask,
                             sibling_hashes=hashes, sibling_counts=counts)
    return message


@dataclass
class RaceNet:
    """A chain whose validators ``0..n-1`` deal and reveal in every beacon round by
    themselves, and race when a test tells them to."""

    beacon: BeaconNet
    trees: dict[tuple[int, str], ProofTree] = field(default_factory=dict)
    dealt: set[int] = field(default_factory=set)
    revealed: set[int] = field(default_factory=set)
    # Every block's validator updates and block events, by height.
    updates: dict[int, list[tuple[bytes, int]]] = field(default_factory=dict)
    events: dict[int, list[Event]] = field(default_factory=dict)

    @classmethod
    def start(cls, powers: Sequence[int] = (10, 10, 10, 10),
              race_params: Mapping[str, Any] | None = None,
              app_state: Mapping[str, Any] | None = None, **chain_options: Any) -> RaceNet:
        state = {"beacon": {"params": dict(BEACON_WINDOWS)},
                 "race": {"params": {**RACE_PARAMS, **(race_params or {})}}}
        for module, section in (app_state or {}).items():
            state.setdefault(module, {}).update(section)
        beacon = BeaconNet(Chain(powers, state, **chain_options))
        beacon.register_all()
        return cls(beacon)

    @property
    def chain(self) -> Chain:
        return self.beacon.chain

    @property
    def operators(self) -> list[str]:
        return self.beacon.operators

    # --- blocks --------------------------------------------------------------------------

    def _beacon_txs(self) -> list[bytes]:
        """This block's deals or reveals, when the round in progress asks for them."""
        answer = self.chain.query_raw("/beacon/round/0")
        if answer.code != 0:
            return []
        current = self.beacon.current()
        entry = current["round"]
        round_id, height = int(entry["round"]), self.chain.height
        members = [p["address"] for p in current["participants"]]
        messages: list[tuple[str, Message]] = []
        if int(entry["start_height"]) <= height <= int(entry["commit_end_height"]) and \
                round_id not in self.dealt:
            self.dealt.add(round_id)
            threshold = int(entry["threshold_units"])
            holders = self.beacon.holders(current)
            for dealer in members:
                secret = new_secret(self.beacon.rng)
                self.beacon.secrets[(round_id, dealer)] = secret
                messages.append((dealer, deal_message(secret, CHAIN_ID, round_id, dealer,
                                                      threshold, holders, self.beacon.rng)))
        elif int(entry["commit_end_height"]) < height <= int(entry["reveal_end_height"]) and \
                round_id not in self.revealed:
            self.revealed.add(round_id)
            messages += [(d, reveal_message(self.beacon.secrets[(round_id, d)], round_id, d))
                         for d in members if (round_id, d) in self.beacon.secrets]
        return [self.chain.sign(signer, [message]) for signer, message in messages]

    def block(self, messages: Iterable[tuple[str, Message]] = ()) -> list[Outcome]:
        """One block: the beacon's txs, then one tx per ``(signer, message)``; the outcomes
        of the latter."""
        beacon_txs = self._beacon_txs()
        pairs = list(messages)
        txs = beacon_txs + [self.chain.sign(signer, [message]) for signer, message in pairs]
        height = self.chain.height
        response = self.chain.block(txs)
        self.updates[height] = [(u.pub_key.ed25519, u.power)
                                for u in response.validator_updates]
        self.events[height] = _events(response.events)
        for signer in {s for s, _ in pairs} | set(self.operators):
            self.chain.sync_sequence(signer)
        return [Outcome(r.code, r.log, _events(r.events), height)
                for r in response.tx_results][len(beacon_txs):]

    def block_events(self, event_type: str) -> list[tuple[int, dict[str, str]]]:
        """(height, attributes) of every block event of ``event_type`` so far."""
        return [(height, dict(e.attributes)) for height, events in sorted(self.events.items())
                for e in events if e.type == event_type]

    def skip_reveals(self, round_id: int) -> None:
        """Nobody reveals in ``round_id`` (and nobody posts recovery shares): it fails."""
        self.revealed.add(round_id)

    def advance_until(self, done: Callable[[], bool], limit: int = 400) -> None:
        """Empty blocks (beacon txs only) until ``done()``."""
        for _ in range(limit):
            if done():
                return
            self.block()
        raise AssertionError(f"not done after {limit} blocks")

    # --- reading -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.chain.query("/race/status")

    def cycle(self, number: int = 0) -> dict[str, Any]:
        return self.chain.query(f"/race/cycle/{number}")["cycle"]

    def results(self, number: int) -> dict[str, dict[str, Any]]:
        answer = self.chain.query(f"/race/results/{number}")
        return {entry["operator"]: entry for entry in answer["entries"]}

    def samples(self, number: int, operator: str) -> dict[str, Any]:
        return self.chain.query(f"/race/samples/{number}/{operator}")

    def powers(self) -> dict[str, int]:
        """Validator power by operator account."""
        validators = self.chain.query("/staking/validators")["validators"]
        return {v["operator"]: int(v["power"]) for v in validators if v["operator"]}

    def wait_for_status(self, status: str) -> dict[str, Any]:
        name = f"RACE_CYCLE_STATUS_{status.upper()}"
        self.advance_until(lambda: self.cycle()["status"] == name)
        return self.cycle()

    # --- a node's part -------------------------------------------------------------------

    def commit_message(self, operator: str, cycle: int, leaves: Sequence[Leaf],
                       *, count: int | None = None) -> race_pb2.MsgCommitProof:
        tree = ProofTree(leaves)
        self.trees[(cycle, operator)] = tree
        return race_pb2.MsgCommitProof(operator=operator, cycle=cycle, root=tree.root,
                                       count=tree.count if count is None else count)

    def open_message(self, operator: str, cycle: int,
                     samples: Iterable[int] | None = None) -> race_pb2.MsgOpenProof:
        ranks = [int(r) for r in self.samples(cycle, operator)["ranks"]]
        return opening_message(operator, cycle, self.trees[(cycle, operator)], ranks, samples)

    def attest_message(self, attester: str, cycle: int,
                       verdicts: Verdicts) -> race_pb2.MsgAttest:
        entries = self.results(cycle)
        nodes = int(self.cycle(cycle)["opened"])
        index = {op: int(e["validation_index"]) for op, e in entries.items()
                 if int(e["validation_index"]) >= 0}
        passed = [index[op] for op, ok in verdicts.items() if ok and op in index]
        failed = [index[op] for op, ok in verdicts.items() if not ok and op in index]
        return race_pb2.MsgAttest(attester=attester, cycle=cycle, passed=encode(passed, nodes),
                                  failed=encode(failed, nodes))

    def run_cycle(self, leaves: Mapping[str, Sequence[Leaf]],
                  verdicts: Mapping[str, Verdicts] | None = None,
                  *, open_only: Iterable[str] | None = None) -> dict[str, Any]:
        """One whole cycle: each operator in ``leaves`` commits them, opens every sample
        (only ``open_only`` when given), and each attester in ``verdicts`` (default: every
        operator passing every other) attests. Returns the closed cycle."""
        cycle = int(self.wait_for_status("racing")["cycle"])
        outcomes = self.block((op, self.commit_message(op, cycle, ls))
                              for op, ls in leaves.items())
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        self.wait_for_status("opening")
        openers = list(leaves) if open_only is None else list(open_only)
        outcomes = self.block((op, self.open_message(op, cycle)) for op in openers)
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        self.wait_for_status("validating")
        judged = verdicts if verdicts is not None else {
            attester: {op: True for op in leaves if op != attester}
            for attester in self.operators}
        outcomes = self.block((a, self.attest_message(a, cycle, v)) for a, v in judged.items())
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        self.advance_until(lambda: self.cycle(cycle)["status"] == "RACE_CYCLE_STATUS_CLOSED")
        return self.cycle(cycle)


__all__ = ["RaceNet", "account", "synthetic_leaves"]
