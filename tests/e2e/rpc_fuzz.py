"""Fuzz cases for a running chain, sent the way an attacker would: through CometBFT's
JSON-RPC (``broadcast_tx_async`` in batches, ``broadcast_tx_sync``, ``abci_query``).

Every case comes from one seeded ``random.Random``, so a failing run can be replayed. The
*valid* txs (one funded sender each, consecutive sequences, affordable amounts, some of
them spending a whole balance) must each be committed exactly once; every other case is
refused somewhere on the way in: by CometBFT's RPC, by CheckTx, or (replays) by the
sequence or the mempool cache.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import abci_app.tx as txlib
from race_protocol.gen.race.v1 import bank_pb2, gov_pb2, pricing_pb2

FEE = 1_000
# Where valid txs send coins: a key that never signs, so no fuzz sender's balance grows
# (a fuzz sender's "unaffordable" fee or amount must stay unaffordable).
SINK_SEED = 30_000_000
# CometBFT's default rpc.max_request_batch_size.
BATCH = 10


def key_for(seed: int) -> Ed25519PrivateKey:
    return txlib.private_key_from_bytes((31_000_000 + seed).to_bytes(32, "big"))


def address_of(key: Ed25519PrivateKey) -> str:
    return txlib.address_from_public_key(txlib.public_key_bytes(key))


@dataclass
class Senders:
    """Funded keys: ``valid`` ones send the txs that must commit, ``whole`` ones spend their
    whole balance in one tx, ``fuzz`` ones sign refused variants (never a valid tx)."""

    valid: list[Ed25519PrivateKey]
    whole: list[Ed25519PrivateKey]
    fuzz: list[Ed25519PrivateKey]
    balance: int

    @classmethod
    def make(cls, valid: int, whole: int, fuzz: int, balance: int) -> Senders:
        keys = [key_for(i) for i in range(valid + whole + fuzz)]
        return cls(keys[:valid], keys[valid:valid + whole], keys[valid + whole:], balance)

    def balances(self) -> dict[str, int]:
        return {address_of(k): self.balance for k in self.valid + self.whole + self.fuzz}


@dataclass
class FuzzRun:
    """What was sent, and what the chain must show for it afterwards."""

    chain_id: str
    senders: Senders
    rng: random.Random
    valid: list[bytes] = field(default_factory=list)
    valid_by_sender: list[list[bytes]] = field(default_factory=list)
    # sender address -> the sequence it must reach
    expected_sequences: dict[str, int] = field(default_factory=dict)
    cases: Counter[str] = field(default_factory=Counter)
    rpc_errors: int = 0
    queries: int = 0
    query_codes: Counter[int] = field(default_factory=Counter)

    # --- building txs ---------------------------------------------------------------

    def send(self, key: Ed25519PrivateKey, amount: int, sequence: int, *, fee: int = FEE,
             chain_id: str | None = None, memo: str = "",
             recipient: str | None = None) -> bytes:
        sender = address_of(key)
        message = bank_pb2.MsgSend(from_address=sender,
                                   to_address=recipient or address_of(key_for(SINK_SEED)),
                                   amount_nicoin=amount)
        return txlib.build_signed_tx(key, self.chain_id if chain_id is None else chain_id,
                                     sequence, fee, [message], memo)

    def build_valid(self, per_sender: int) -> None:
        """Consecutive sequences from each valid sender; one whole-balance spend each from
        the ``whole`` senders (the largest amount that can succeed)."""
        for key in self.senders.valid:
            self.valid_by_sender.append([self.send(key, 1 + self.rng.randrange(10**9), seq)
                                         for seq in range(per_sender)])
            self.expected_sequences[address_of(key)] = per_sender
        for key in self.senders.whole:
            self.valid_by_sender.append([self.send(key, self.senders.balance - FEE, 0)])
            self.expected_sequences[address_of(key)] = 1
        self.valid = [tx for txs in self.valid_by_sender for tx in txs]

    def mutant(self) -> tuple[str, bytes]:
        """One refused case: its kind and bytes."""
        rng = self.rng
        base = rng.choice(self.valid)
        fuzz_key = rng.choice(self.senders.fuzz)
        kind = rng.choice(KINDS)
        if kind == "bit_flip":
            data = bytearray(base)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            return kind, bytes(data)
        if kind == "truncated":
            return kind, base[: rng.randrange(len(base))]
        if kind == "extended":
            position = rng.randrange(len(base) + 1)
            extra = rng.randbytes(rng.randint(1, 64))
            return kind, base[:position] + extra + base[position:]
        if kind == "random_bytes":
            return kind, rng.randbytes(rng.randint(0, 2048))
        if kind == "wrong_chain_id":
            chain_id = rng.choice(["", "race-other", self.chain_id + "x", self.chain_id.upper(),
                                   self.chain_id + "\u0000"])
            return kind, self.send(fuzz_key, 5, 0, chain_id=chain_id)
        if kind == "oversize":
            summary = "x" * 10_000
            proposer = address_of(fuzz_key)
            messages = [gov_pb2.MsgSubmitProposal(proposer=proposer, title="big", summary=summary)
                        for _ in range(7)]
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE, messages)
        if kind == "extreme_amount":
            amount = rng.choice([2**64 - 1, 2**63, 2**63 - 1, 10**18 + 1,
                                 self.senders.balance, self.senders.balance - FEE + 1])
            return kind, self.send(fuzz_key, amount, 0)
        if kind == "extreme_fee":
            return kind, self.send(fuzz_key, 1, 0, fee=rng.choice([2**64 - 1, 2**63, 0, 999,
                                                                   self.senders.balance + 1]))
        if kind == "far_sequence":
            return kind, self.send(fuzz_key, 1, rng.choice([1_000, 2**63 - 1, 2**64 - 1]))
        if kind == "unfunded_signer":
            return kind, self.send(key_for(900_000 + rng.randrange(10**6)), 1, 0)
        if kind == "signer_mismatch":
            message = bank_pb2.MsgSend(from_address=address_of(self.senders.valid[0]),
                                       to_address=address_of(fuzz_key), amount_nicoin=1)
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE, [message])
        if kind == "long_memo":
            return kind, self.send(fuzz_key, 1, 0, memo="m" * rng.randint(257, 5000))
        if kind == "too_many_messages":
            sender = address_of(fuzz_key)
            messages = [bank_pb2.MsgSend(from_address=sender, to_address=sender,
                                         amount_nicoin=1)] * 33
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE, messages)
        if kind == "no_messages":
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE, [])
        if kind == "unknown_message":
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE,
                                               [gov_pb2.TallyResult(yes="1")])
        if kind == "refused_message":
            sender = address_of(fuzz_key)
            message = rng.choice([
                gov_pb2.MsgVote(voter=sender, proposal_id=999, option=1),
                gov_pb2.MsgDeposit(depositor=sender, proposal_id=999, amount_nicoin=5),
                pricing_pb2.MsgPriceVote(voter=sender, price_per_unit_nicoin=5),
                bank_pb2.MsgSend(from_address=sender, to_address="race1nope",
                                 amount_nicoin=1),
            ])
            return kind, txlib.build_signed_tx(fuzz_key, self.chain_id, 0, FEE, [message])
        raise AssertionError(kind)

    # --- sending -------------------------------------------------------------------

    def broadcast_async(self, client: httpx.Client, txs: list[bytes]) -> None:
        """``broadcast_tx_async`` in JSON-RPC batches; an RPC-level refusal is counted."""
        for start in range(0, len(txs), BATCH):
            batch = [{"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_async",
                      "params": {"tx": base64.b64encode(tx).decode()}}
                     for i, tx in enumerate(txs[start:start + BATCH])]
            answer = client.post("/", json=batch)
            if answer.status_code != 200:
                self.rpc_errors += len(batch)
                continue
            replies = answer.json()
            replies = replies if isinstance(replies, list) else [replies]
            self.rpc_errors += sum(1 for reply in replies if "error" in reply)

    def broadcast_sync(self, client: httpx.Client, tx: bytes) -> int | None:
        """``broadcast_tx_sync``: CheckTx's code, or None when the RPC refused the tx."""
        answer = client.post("/", json={"jsonrpc": "2.0", "id": 0,
                                        "method": "broadcast_tx_sync",
                                        "params": {"tx": base64.b64encode(tx).decode()}})
        reply = answer.json() if answer.status_code == 200 else {"error": answer.status_code}
        if "error" in reply:
            self.rpc_errors += 1
            return None
        return int(reply["result"]["code"])

    def odd_query(self, client: httpx.Client) -> None:
        """One ``abci_query`` with an odd path, data or height; the node must answer."""
        rng = self.rng
        path = rng.choice(ODD_PATHS + [
            "/" + "/".join(rng.choice(["bank", "gov", "app", "..", "", "%", "\u00e9", "x" * 300])
                           for _ in range(rng.randint(0, 6))),
            "/gov/proposal/" + rng.choice(["-1", "0", "99999999999999999999", "\uff11", "1e3"]),
        ])
        params: dict[str, Any] = {"path": path, "prove": rng.random() < 0.2}
        if rng.random() < 0.6:
            params["data"] = rng.randbytes(rng.randint(0, 300)).hex()
        if rng.random() < 0.5:
            params["height"] = rng.choice(["0", "1", "-1", "999999999", str(2**63), "abc", ""])
        answer = client.post("/", json={"jsonrpc": "2.0", "id": 0, "method": "abci_query",
                                        "params": params})
        self.queries += 1
        reply = answer.json() if answer.status_code == 200 else {"error": answer.status_code}
        if "result" in reply:
            self.query_codes[int(reply["result"]["response"].get("code", 0))] += 1
        else:
            self.query_codes[-1] += 1


KINDS = ("bit_flip", "bit_flip", "bit_flip", "truncated", "truncated", "extended",
         "random_bytes", "wrong_chain_id", "oversize", "extreme_amount", "extreme_fee",
         "far_sequence", "unfunded_signer", "signer_mismatch", "long_memo",
         "too_many_messages", "no_messages", "unknown_message", "refused_message")
ODD_PATHS = ["", "/", "//", "/app", "/app/", "/app/invariants", "/app/info/extra",
             "/app/nothing", "/../../etc/passwd", "/bank", "/bank/balance",
             "/bank/balance/race1notanaddress", "/gov/proposals/not_a_status",
             "/gov/proposals", "/gov/deposits/1", "/pricing/history/-5",
             "/pricing/history/99999999999999999999999", "/models/list/weird",
             "/p2p/filter/id/abc", "/auth/account/", "/staking/validators/x",
             "\u0000", "/" * 500, "/gov/" + "a" * 5000]
