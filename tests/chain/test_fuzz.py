"""Property tests: arbitrary and mutated tx bytes never raise and never change state when refused.

Together these run over 10,000 generated cases (issue 2's floor).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import abci_app.tx as txlib
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from race_protocol.gen.race.v1.tx_pb2 import TxBody

from .conftest import FEE, GENESIS_BALANCE, Chain, address_of, key_from_seed, start_chain


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
        database=None,
    )


@pytest.fixture(scope="module")
def fuzz_chain() -> Iterator[tuple[Chain, bytes]]:
    """One chain for all examples; every example is undone, so they cannot affect each other."""
    chain = start_chain(None)
    baseline = chain.finalize([]).app_hash
    chain.app.discard_uncommitted()
    yield chain, baseline
    chain.app.close()


def _assert_refusal_changes_nothing(chain: Chain, baseline: bytes, tx: bytes) -> None:
    """CheckTx then FinalizeBlock the bytes; whatever is refused leaves no trace."""
    try:
        checked = chain.check(tx)
        if checked.code != 0:
            assert chain.app.check_state.write_count() == 0
        response = chain.finalize([tx])
        result = response.tx_results[0]
        if result.code != 0 and not any(e.type == "tx" for e in result.events):
            # Refused before the fee was taken: the block is as if the tx were absent.
            assert response.app_hash == baseline
        if result.code != 0:
            assert result.log, "a refusal must say why"
    finally:
        chain.app.discard_uncommitted()


@given(st.binary(max_size=512))
@fuzz(3000)
def test_random_bytes(fuzz_chain: tuple[Chain, bytes], tx: bytes) -> None:
    chain, baseline = fuzz_chain
    _assert_refusal_changes_nothing(chain, baseline, tx)


def _valid_tx(chain: Chain, amount: int, fee: int) -> bytes:
    message = MsgSend(from_address=chain.addresses[0], to_address=chain.addresses[1],
                      amount_nicoin=amount)
    return txlib.build_signed_tx(chain.keys[0], "race-test", 0, fee, [message])


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
)


def _mutate(tx: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(tx)
    for kind, where, value in steps:
        position = where % (len(data) + 1)
        if kind == "flip" and position < len(data):
            data[position] ^= value
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data.insert(position, value)
        elif kind == "delete" and position < len(data):
            del data[position]
    return bytes(data)


@given(st.lists(mutations, min_size=1, max_size=4),
       st.integers(1, GENESIS_BALANCE), st.integers(0, 10 * FEE))
@fuzz(4000)
def test_mutated_valid_tx(fuzz_chain: tuple[Chain, bytes], steps: list[tuple[str, int, int]],
                          amount: int, fee: int) -> None:
    chain, baseline = fuzz_chain
    _assert_refusal_changes_nothing(chain, baseline, _mutate(_valid_tx(chain, amount, fee), steps))


@given(
    chain_id=st.sampled_from(["race-test", "", "race-test2", "RACE-TEST"]),
    sequence=st.integers(0, 2**64 - 1),
    fee=st.integers(0, 2**64 - 1),
    type_url=st.sampled_from(["/race.v1.MsgSend", "/race.v1.MsgVote", "", "/x.Y"]),
    value=st.binary(max_size=64),
    memo=st.text(max_size=300),
    signer=st.integers(0, 5),
)
@fuzz(2000)
def test_well_signed_random_bodies(fuzz_chain: tuple[Chain, bytes], chain_id: str,
                                   sequence: int, fee: int, type_url: str, value: bytes,
                                   memo: str, signer: int) -> None:
    chain, baseline = fuzz_chain
    key = key_from_seed(signer + 1)
    body = TxBody(chain_id=chain_id, signer_public_key=txlib.public_key_bytes(key),
                  sequence=sequence, fee_nicoin=fee, memo=memo)
    body.messages.add(type_url=type_url, value=value)
    raw = body.SerializeToString(deterministic=True)
    _assert_refusal_changes_nothing(chain, baseline, txlib.encode_tx(raw, txlib.sign(key, raw)))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(1, 2 * 10**15),
                          st.integers(FEE, 3 * FEE)),
                min_size=1, max_size=6))
@fuzz(1000)
def test_supply_invariant_holds_under_random_sends(
    fuzz_chain: tuple[Chain, bytes], sends: list[tuple[int, int, int, int]]
) -> None:
    chain, _ = fuzz_chain
    recipients = [*chain.addresses, address_of(key_from_seed(4242))]
    sequences: dict[int, int] = {}
    txs = []
    for sender, recipient, amount, fee in sends:
        sequence = sequences.get(sender, _sequence(chain, sender))
        sequences[sender] = sequence + 1
        txs.append(chain.send_tx(sender, recipients[recipient], amount, fee=fee,
                                 sequence=sequence))
    try:
        chain.finalize(txs)
        from abci_app.core.context import Context

        ctx = Context("query", chain.app.check_block, chain.app.block_state, chain.app.registry)
        assert chain.app.registry.check_invariants(ctx) == []
    finally:
        chain.app.discard_uncommitted()


def _sequence(chain: Chain, sender: int) -> int:
    code, account = chain.query_result(f"/auth/account/{chain.addresses[sender]}")
    return int(account["sequence"]) if code == 0 else 0  # type: ignore[index]
