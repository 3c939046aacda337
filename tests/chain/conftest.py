"""Fixtures for the chain core tests: the shared in-process chain (tests/harness.py) with four
funded accounts that pay fees, addressed by index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from abci_app.core.registry import ModuleRegistry
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from tests import harness
from tests.harness import CHAIN_ID, address_of, key_for, key_from_seed, validator_key

FEE = 1000
GENESIS_BALANCE = 10**15
VALIDATOR_KEY = validator_key(0)

__all__ = ["CHAIN_ID", "FEE", "GENESIS_BALANCE", "VALIDATOR_KEY", "Chain", "address_of",
           "key_from_seed", "start_chain"]


class Chain(harness.Chain):
    """The shared harness, with accounts 0..n-1 addressed by index and a default fee."""

    @property
    def keys(self) -> list[Any]:
        return [key_for(i) for i in range(self.n_keys)]

    @property
    def addresses(self) -> list[str]:
        return [harness.account(i) for i in range(self.n_keys)]

    def send_tx(self, sender: int, recipient: str, amount: int, fee: int = FEE,
                sequence: int | None = None, chain_id: str = CHAIN_ID) -> bytes:
        """A signed MsgSend from account ``sender``; advances the local sequence."""
        address = self.addresses[sender]
        message = MsgSend(from_address=address, to_address=recipient, amount_nicoin=amount)
        return self.sign(address, [message], fee=fee, sequence=sequence, chain_id=chain_id)

    def signed(self, sender: int, messages: list[Message], fee: int = FEE,
               **options: Any) -> bytes:
        return self.sign(self.addresses[sender], messages, fee=fee, **options)

    def query_result(self, path: str) -> tuple[int, Any]:
        """(code, JSON answer or the refusal's log)."""
        response = self.query_raw(path)
        return response.code, (harness.json.loads(response.value) if response.value
                               else response.log)


def start_chain(db_path: Path | None, n_keys: int = 4, registry: ModuleRegistry | None = None,
                params: dict | None = None, **app_kw: Any) -> Chain:
    """InitChain with ``n_keys`` funded accounts and one validator, then commit block 1."""
    app_state = {module: {"params": values} for module, values in (params or {}).items()}
    chain = Chain([10], app_state, accounts=range(n_keys), balance=GENESIS_BALANCE, fee=FEE,
                  db_path=db_path, registry=registry, **app_kw)
    chain.n_keys = n_keys
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
