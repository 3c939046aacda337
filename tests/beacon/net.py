"""An in-process beacon network for tests and the bench: the real app (tests/harness.py)
with validators whose operators take part in rounds through the participant helpers the
agent uses (:mod:`race_protocol.beacon.participant`).

Secrets come from a seeded generator, so two networks built alike deal alike; tests read
them back to compute the output offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from race_node.client.rpc import QueryResult
from race_protocol.beacon.keys import EncryptionKey
from race_protocol.beacon.output import round_output
from race_protocol.beacon.participant import (
    Holder,
    deal_message,
    new_secret,
    recover_message,
    register_key_message,
    reveal_message,
)
from race_protocol.beacon.pvss import contribution
from tests.beacon.rng import seeded
from tests.harness import CHAIN_ID, Chain, Outcome, account

WINDOWS = {"commit_window_blocks": 3, "reveal_window_blocks": 3,
           "recovery_window_blocks": 3}


class InProcessNode:
    """Answers ``abci_query`` from an in-process chain, as a node's CometBFT RPC would."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        answer = self.chain.query_raw(path)
        return QueryResult(code=answer.code, log=answer.log, value=bytes(answer.value),
                           height=answer.height, codespace=answer.codespace)


@dataclass
class BeaconNet:
    """A chain whose validators ``0..n-1`` are beacon participants (when registered)."""

    chain: Chain
    keys: dict[str, EncryptionKey] = field(default_factory=dict)
    secrets: dict[tuple[int, str], bytes] = field(default_factory=dict)
    rng: Callable[[int], bytes] = field(default_factory=lambda: seeded(7))

    @classmethod
    def start(cls, powers: Sequence[int] = (10, 10, 10, 10), params: dict[str, Any] | None
              = None, register: bool = True, seed: int = 7, **chain_options: Any) -> BeaconNet:
        app_state = {"beacon": {"params": {**WINDOWS, **(params or {})}}}
        net = cls(Chain(powers, app_state, **chain_options), rng=seeded(seed))
        if register:
            net.register_all()
        return net

    @property
    def operators(self) -> list[str]:
        return [account(i) for i in range(len(self.chain.powers))]

    # --- sending -------------------------------------------------------------------------

    def deliver_each(self, messages: Iterable[tuple[str, Message]]) -> list[Outcome]:
        """One block with one tx per ``(signer, message)``."""
        pairs = list(messages)
        outcomes = self.chain.deliver_txs([self.chain.sign(s, [m]) for s, m in pairs])
        for signer, _ in pairs:
            self.chain.sync_sequence(signer)
        return outcomes

    def register_all(self, operators: Iterable[str] | None = None) -> list[Outcome]:
        chosen = list(self.operators if operators is None else operators)
        for operator in chosen:
            self.keys.setdefault(operator, EncryptionKey.generate(self.rng))
        return self.deliver_each(
            (op, register_key_message(self.keys[op], CHAIN_ID, op, self.rng)) for op in chosen)

    # --- the round -----------------------------------------------------------------------

    def current(self) -> dict[str, Any]:
        return self.chain.query("/beacon/round/0")

    def round_info(self, round_id: int) -> dict[str, Any]:
        return self.chain.query(f"/beacon/round/{round_id}")

    def holders(self, answer: dict[str, Any]) -> list[Holder]:
        return [Holder(p["address"], int(p["first_index"]), int(p["units"]),
                       bytes.fromhex(p["public_key"])) for p in answer["participants"]]

    def wait_for_window(self, window: str) -> dict[str, Any]:
        """Advance until the next block is in the round in progress' ``window``."""
        answer = self.current()
        entry = answer["round"]
        first = {"commit": int(entry["start_height"]),
                 "reveal": int(entry["commit_end_height"]) + 1,
                 "recovery": int(entry["reveal_end_height"]) + 1}[window]
        self.chain.advance_to(first)
        return answer

    def deal_messages(self, dealers: Iterable[str] | None = None,
                      secrets: dict[str, bytes] | None = None) -> list[tuple[str, Message]]:
        """Deals for ``dealers`` (default: every participant), of the given ``secrets`` or
        fresh ones."""
        answer = self.current()
        round_id = int(answer["round"]["round"])
        threshold = int(answer["round"]["threshold_units"])
        holders = self.holders(answer)
        chosen = [h.address for h in holders] if dealers is None else list(dealers)
        messages: list[tuple[str, Message]] = []
        for dealer in chosen:
            secret = (secrets or {}).get(dealer) or new_secret(self.rng)
            self.secrets[(round_id, dealer)] = secret
            messages.append((dealer, deal_message(secret, CHAIN_ID, round_id, dealer,
                                                  threshold, holders, self.rng)))
        return messages

    def deal(self, dealers: Iterable[str] | None = None,
             secrets: dict[str, bytes] | None = None) -> list[Outcome]:
        self.wait_for_window("commit")
        return self.deliver_each(self.deal_messages(dealers, secrets))

    def reveal(self, dealers: Iterable[str] | None = None) -> list[Outcome]:
        """Reveal the secrets of ``dealers`` (default: every participant that dealt)."""
        answer = self.wait_for_window("reveal")
        round_id = int(answer["round"]["round"])
        dealt = [p["address"] for p in answer["participants"]
                 if p["status"] == "BEACON_PARTICIPANT_STATUS_DEALT"]
        chosen = dealt if dealers is None else list(dealers)
        return self.deliver_each(
            (d, reveal_message(self.secrets[(round_id, d)], round_id, d)) for d in chosen)

    def recover_messages(self, posters: Iterable[str] | None = None
                         ) -> list[tuple[str, Message]]:
        """Each poster's decrypted shares of every withheld secret."""
        answer = self.current()
        round_id = int(answer["round"]["round"])
        withheld = {p["address"]: [bytes.fromhex(y) for y in self.chain.query(
                        f"/beacon/deal/{round_id}/{p['address']}")["encrypted_shares"]]
                    for p in answer["participants"]
                    if p["status"] == "BEACON_PARTICIPANT_STATUS_WITHHELD"}
        holders = {h.address: h for h in self.holders(answer)}
        chosen = list(holders) if posters is None else list(posters)
        return [(poster, recover_message(self.keys[poster], CHAIN_ID, round_id,
                                         holders[poster], withheld, self.rng))
                for poster in chosen]

    def recover(self, posters: Iterable[str] | None = None) -> list[Outcome]:
        self.wait_for_window("recovery")
        return self.deliver_each(self.recover_messages(posters))

    def finish(self) -> dict[str, Any]:
        """Advance past the round in progress; its final answer."""
        answer = self.current()
        round_id = int(answer["round"]["round"])
        self.chain.advance_to(int(answer["round"]["end_height"]) + 1)
        return self.round_info(round_id)

    def run_round(self, *, withhold: Iterable[str] = (), absent: Iterable[str] = (),
                  recover: bool = True, secrets: dict[str, bytes] | None = None
                  ) -> dict[str, Any]:
        """A whole round: everyone but ``absent`` deals, everyone who dealt but
        ``withhold`` reveals, and (with ``recover``) every present participant posts shares
        of the withheld secrets. Returns the final round answer."""
        absent, withhold = set(absent), set(withhold)
        present = [h.address for h in self.holders(self.current()) if h.address not in absent]
        outcomes = self.deal(present, secrets)
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        revealers = [d for d in present if d not in withhold]
        assert all(o.ok for o in self.reveal(revealers))
        if recover and withhold:
            outcomes = self.recover([p for p in present if p not in absent])
            assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        return self.finish()

    def offline_output(self, round_id: int, dealers: Iterable[str]) -> bytes:
        """The output computed from the secrets alone, without the chain."""
        return round_output(round_id, [(d, contribution(self.secrets[(round_id, d)]))
                                       for d in dealers])
