"""CheckTx keeps nothing for txs it refuses: a flood of large, validly signed txs from
unfunded keys costs the sender nothing, so it must not cost the node memory
(abci_app.core.stateless; the node-level measurement is bench/checktx_flood.py)."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

import abci_app.tx as txlib
from abci_app.core import stateless
from abci_app.modules.auth.errors import ACCOUNT_NOT_FOUND
from race_protocol.gen.race.v1 import gov_pb2

from .conftest import CHAIN_ID, FEE, Chain, key_from_seed

MIB = 1024 * 1024


def large_unfunded_tx(seed: int, size: int = 60_000) -> bytes:
    """About ``size`` bytes of valid proposals signed by a key that holds nothing."""
    key = key_from_seed(900_000 + seed)
    proposer = txlib.address_from_public_key(txlib.public_key_bytes(key))
    summary = ("x" * 10_000)[: size // 6 - 150]
    messages = [gov_pb2.MsgSubmitProposal(proposer=proposer, title=f"p{i}", summary=summary)
                for i in range(6)]
    return txlib.build_signed_tx(key, CHAIN_ID, 0, FEE, messages)


def test_refused_large_txs_leave_no_memory_behind(chain: Chain) -> None:
    txs = [large_unfunded_tx(i) for i in range(100)]  # about 6 MB of signed txs
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        codes = {chain.check(tx).code for tx in txs}
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert codes == {ACCOUNT_NOT_FOUND.code}
    assert retained < 1 * MIB, f"{retained} bytes retained by 100 refused txs"


def test_admitted_txs_are_cached_within_the_byte_budget(
        chain: Chain, outsider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stateless, "_checked", {})
    monkeypatch.setattr(stateless, "_checked_bytes", 0)
    first = chain.send_tx(0, outsider, 1)
    monkeypatch.setattr(stateless, "CHECKED_CACHE_BYTES", 2 * len(first) + 10)
    admitted = [first, chain.send_tx(0, outsider, 1), chain.send_tx(0, outsider, 1)]

    assert [chain.check(tx).code for tx in admitted] == [0, 0, 0]

    assert stateless.cached_tx_bytes() <= stateless.CHECKED_CACHE_BYTES
    assert len(stateless._checked) == 2  # the oldest made room for the newest
    assert chain.deliver_txs(admitted)[2].ok
