"""Fixtures for the chain core tests: an in-process app with genesis accounts, and tx helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

import abci_app.tx as txlib
from abci_app.app import RaceApp
from abci_app.gen.race.v1.bank_pb2 import MsgSend
from abci_app.gen.tendermint.abci import types_pb2 as abci
from abci_app.genesis import build_app_state
from abci_app.modules import ModuleRegistry

CHAIN_ID = "race-test"
GENESIS_BALANCE = 10**15
FEE = 1000
GENESIS_TIME_S = 1_700_000_000


def key_from_seed(seed: int) -> Ed25519PrivateKey:
    """A deterministic key, so two app instances can be fed identical blocks."""
    return txlib.private_key_from_bytes(seed.to_bytes(32, "big"))


def address_of(key: Ed25519PrivateKey) -> str:
    return txlib.address_from_public_key(txlib.public_key_bytes(key))


VALIDATOR_KEY = txlib.public_key_bytes(key_from_seed(9999))


@dataclass
class Chain:
    """An app driven block by block the way CometBFT drives it."""

    app: RaceApp
    keys: list[Ed25519PrivateKey]
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def addresses(self) -> list[str]:
        return [address_of(k) for k in self.keys]

    @property
    def height(self) -> int:
        return self.app.committed.height

    def send_tx(
        self,
        sender: int,
        recipient: str,
        amount: int,
        fee: int = FEE,
        sequence: int | None = None,
        chain_id: str = CHAIN_ID,
    ) -> bytes:
        """A signed MsgSend from ``keys[sender]``; advances the local sequence."""
        key = self.keys[sender]
        address = address_of(key)
        seq = self.sequences.get(address, 0) if sequence is None else sequence
        if sequence is None:
            self.sequences[address] = seq + 1
        message = MsgSend(from_address=address, to_address=recipient, amount_nicoin=amount)
        return txlib.build_signed_tx(key, chain_id, seq, fee, [message])

    def signed(self, sender: int, messages: list[Message], fee: int = FEE, **kw: object) -> bytes:
        key = self.keys[sender]
        address = address_of(key)
        seq = int(kw.get("sequence", self.sequences.get(address, 0)))  # type: ignore[arg-type]
        self.sequences[address] = seq + 1
        memo = str(kw.get("memo", ""))
        chain_id = str(kw.get("chain_id", CHAIN_ID))
        return txlib.build_signed_tx(key, chain_id, seq, fee, messages, memo)

    def check(self, tx: bytes) -> abci.ResponseCheckTx:
        return self.app.check_tx(abci.RequestCheckTx(tx=tx))

    def finalize(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        height = self.height + 1
        return self.app.finalize_block(
            abci.RequestFinalizeBlock(
                txs=txs,
                height=height,
                time={"seconds": GENESIS_TIME_S + height},
                hash=height.to_bytes(32, "big"),
            )
        )

    def block(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock then Commit."""
        response = self.finalize(txs)
        self.app.commit(abci.RequestCommit())
        return response

    def query(self, path: str) -> tuple[int, object]:
        response = self.app.query(abci.RequestQuery(path=path))
        return response.code, (json.loads(response.value) if response.value else response.log)

    def balance(self, address: str) -> int:
        code, body = self.query(f"/bank/balance/{address}")
        assert code == 0, body
        return int(body["amount"])  # type: ignore[index]


def start_chain(
    db_path: Path | None,
    n_keys: int = 4,
    registry: ModuleRegistry | None = None,
    params: dict | None = None,
    **app_kw: object,
) -> Chain:
    """InitChain with ``n_keys`` funded accounts and one validator, then commit block 1."""
    keys = [key_from_seed(i + 1) for i in range(n_keys)]
    app_state = build_app_state({address_of(k): GENESIS_BALANCE for k in keys}, params=params)
    app = RaceApp(db_path, registry=registry, **app_kw)  # type: ignore[arg-type]
    app.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID,
            app_state_bytes=json.dumps(app_state).encode(),
            initial_height=1,
            time={"seconds": GENESIS_TIME_S},
            validators=[abci.ValidatorUpdate(pub_key={"ed25519": VALIDATOR_KEY}, power=10)],
        )
    )
    chain = Chain(app, keys)
    chain.block([])
    return chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """A fresh chain on disk with four funded accounts, at height 1."""
    c = start_chain(tmp_path / "app.db")
    yield c
    c.app.close()


@pytest.fixture
def outsider() -> str:
    """An address nobody funded."""
    return address_of(key_from_seed(123456))
