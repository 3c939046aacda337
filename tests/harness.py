"""The one in-process chain for tests: the real :class:`~abci_app.app.RaceApp`, driven by
ABCI requests block by block the way CometBFT drives it, with signed txs.

Accounts are deterministic ed25519 keys (``key_for(i)``), so two apps fed the same calls
reach the same state. Validator ``i`` is operated by account ``i`` and every listed account
is funded at genesis. :attr:`Chain.height` is the height the next block will have, the
block a delivered message lands in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

import abci_app.tx as txlib
from abci_app.app import RaceApp
from abci_app.core.context import BlockInfo, Context
from abci_app.core.registry import ModuleRegistry
from abci_app.genesis import build_app_state
from abci_app.store import Overlay
from race_protocol.gen.tendermint.abci import types_pb2 as abci

CHAIN_ID = "race-test"
ICOIN = 10**9
GENESIS_TIME_S = 1_700_000_000
DEFAULT_BALANCE = 10**6 * ICOIN


def key_from_seed(seed: int) -> Ed25519PrivateKey:
    """A deterministic ed25519 key."""
    return txlib.private_key_from_bytes(seed.to_bytes(32, "big"))


def address_of(key: Ed25519PrivateKey) -> str:
    return txlib.address_from_public_key(txlib.public_key_bytes(key))


def key_for(index: int) -> Ed25519PrivateKey:
    """Account ``index``'s signing key."""
    return key_from_seed(10_000 + index)


def account(index: int) -> str:
    """Account ``index``'s address (the operator of validator ``index``)."""
    return address_of(key_for(index))


def validator_key(index: int) -> bytes:
    """Validator ``index``'s consensus (ed25519) public key."""
    return txlib.public_key_bytes(key_from_seed(50_000 + index))


@dataclass(frozen=True)
class Event:
    """An ABCI event as a test reads it: a type and its (key, value) attributes."""

    type: str
    attributes: list[tuple[str, str]] = field(default_factory=list)


def _events(raw: Iterable[Any]) -> list[Event]:
    return [Event(e.type, [(a.key, a.value) for a in e.attributes]) for e in raw]


@dataclass(frozen=True)
class Outcome:
    """A delivered tx's result: code 0 on success, else its refusal's code and log."""

    code: int
    log: str
    events: list[Event] = field(default_factory=list)
    height: int = 0

    @property
    def ok(self) -> bool:
        return self.code == 0

    def attributes(self, event_type: str) -> dict[str, str]:
        """The attributes of the first event of ``event_type``."""
        for event in self.events:
            if event.type == event_type:
                return dict(event.attributes)
        raise AssertionError(f"no {event_type} event in {[e.type for e in self.events]}")


class Chain:
    """A RaceApp after InitChain, with validators of the given powers and funded accounts.

    ``fee`` is what every tx pays; with the default 0, genesis sets ``auth.min_fee_nicoin``
    to 0 so module tests can count coins without fees.
    """

    def __init__(
        self,
        powers: Sequence[int] = (10,),
        app_state: dict[str, Any] | None = None,
        *,
        accounts: Iterable[int] | None = None,
        balance: int = DEFAULT_BALANCE,
        fee: int = 0,
        db_path: Path | str | None = None,
        registry: ModuleRegistry | None = None,
        link_operators: bool = True,
        **app_options: Any,
    ) -> None:
        self.fee = fee
        self.powers = list(powers)
        funded = sorted(set(accounts if accounts is not None else range(len(self.powers)))
                        | ({100} if accounts is None else set()))
        self.sequences: dict[str, int] = {}
        self._keys: dict[str, Ed25519PrivateKey] = {account(i): key_for(i) for i in funded}
        operators = ({validator_key(i).hex(): account(i) for i in range(len(self.powers))}
                     if link_operators else {})
        state = build_app_state({account(i): balance for i in funded}, operators=operators)
        if fee == 0:
            state["auth"].setdefault("params", {})["min_fee_nicoin"] = 0
        for module, section in (app_state or {}).items():
            target = state.setdefault(module, {})
            for key, value in section.items():
                if key == "params":
                    target.setdefault("params", {}).update(value)
                else:
                    target[key] = value
        self.app = RaceApp(db_path, registry=registry, **app_options)
        self.registry = self.app.registry
        self.app.init_chain(abci.RequestInitChain(
            chain_id=CHAIN_ID,
            app_state_bytes=json.dumps(state).encode(),
            initial_height=1,
            time={"seconds": GENESIS_TIME_S},
            validators=[abci.ValidatorUpdate(pub_key={"ed25519": validator_key(i)}, power=p)
                        for i, p in enumerate(self.powers)],
        ))
        self.genesis_response = self.block([])

    @classmethod
    def resume(cls, app: RaceApp, like: Chain) -> Chain:
        """A chain over an app reopened from disk (a restart), with ``like``'s keys."""
        chain = cls.__new__(cls)
        chain.__dict__.update(like.__dict__)
        chain.app, chain.registry = app, app.registry
        chain.sequences = dict(like.sequences)
        return chain

    def close(self) -> None:
        self.app.close()

    # --- keys and txs ----------------------------------------------------------------

    @property
    def height(self) -> int:
        """The height of the next block: where a delivered tx lands."""
        return self.app.committed.height + 1

    def add_key(self, key: Ed25519PrivateKey) -> str:
        """Sign for ``key`` too (an account funded some other way); returns its address."""
        address = address_of(key)
        self._keys[address] = key
        return address

    def sign(self, signer: str, messages: Sequence[Message], *, fee: int | None = None,
             memo: str = "", sequence: int | None = None, chain_id: str = CHAIN_ID) -> bytes:
        """A signed tx from ``signer``'s key; without ``sequence``, the next local one."""
        seq = self.sequences.get(signer, 0) if sequence is None else sequence
        if sequence is None:
            self.sequences[signer] = seq + 1
        return txlib.build_signed_tx(self._keys[signer], chain_id, seq,
                                     self.fee if fee is None else fee, list(messages), memo)

    # --- ABCI ----------------------------------------------------------------------

    def check(self, tx: bytes, recheck: bool = False) -> abci.ResponseCheckTx:
        kind = abci.RECHECK if recheck else abci.NEW
        return self.app.check_tx(abci.RequestCheckTx(tx=tx, type=kind))

    def finalize(self, txs: Sequence[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock for the next height, without Commit."""
        height = self.height
        return self.app.finalize_block(abci.RequestFinalizeBlock(
            txs=list(txs), height=height, time={"seconds": GENESIS_TIME_S + height},
            hash=height.to_bytes(32, "big")))

    def commit(self) -> None:
        self.app.commit(abci.RequestCommit())

    def block(self, txs: Sequence[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock then Commit."""
        response = self.finalize(txs)
        self.commit()
        return response

    def deliver_txs(self, txs: Sequence[bytes]) -> list[Outcome]:
        """One block holding ``txs``; each tx's outcome."""
        height = self.height
        response = self.block(txs)
        return [Outcome(r.code, r.log, _events(r.events), height) for r in response.tx_results]

    def deliver(self, signer: str, *messages: Message, **sign_options: Any) -> Outcome:
        """One block holding one tx from ``signer`` with ``messages``."""
        tx = self.sign(signer, messages, **sign_options)
        outcome = self.deliver_txs([tx])[0]
        self.sync_sequence(signer)
        return outcome

    def sync_sequence(self, signer: str) -> int:
        """Take ``signer``'s next sequence from the committed state (0 for a new account)."""
        response = self.query_raw(f"/auth/account/{signer}")
        sequence = json.loads(response.value)["sequence"] if response.code == 0 else 0
        self.sequences[signer] = int(sequence)
        return int(sequence)

    def end_block(self) -> list[Event]:
        """An empty block; its block events."""
        return _events(self.block([]).events)

    def advance_to(self, height: int) -> list[Event]:
        """Empty blocks until ``height`` is the next block's height; all their events."""
        events: list[Event] = []
        while self.height < height:
            events.extend(self.end_block())
        return events

    # --- reading ---------------------------------------------------------------------

    def query_raw(self, path: str) -> abci.ResponseQuery:
        return self.app.query(abci.RequestQuery(path=path))

    def query(self, path: str) -> Any:
        """A query's JSON answer; fails the test when the app refuses it."""
        response = self.query_raw(path)
        assert response.code == 0, f"{path}: code {response.code}: {response.log}"
        return json.loads(response.value)

    def keeper_context(self) -> Context:
        """A read-only context on the last committed state, for keeper functions."""
        info = BlockInfo(self.app.committed.height, self.app.last_block_time_ns, CHAIN_ID)
        return Context("query", info, Overlay(self.app.committed, read_only=True),
                       self.registry)

    def params(self, module: str) -> Any:
        return self.keeper_context().params(module)

    def balance(self, address: str) -> int:
        return int(self.query(f"/bank/balance/{address}")["amount"])
