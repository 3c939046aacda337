"""Each way a tx is refused has its own code, in CheckTx and FinalizeBlock, and changes nothing."""

from __future__ import annotations

import pytest

import abci_app.tx as txlib
from abci_app.modules.bank.keeper import fee_collector_address
from race_protocol.gen.race.v1 import tx_pb2
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from race_protocol.gen.race.v1.tx_pb2 import TxBody

from .conftest import FEE, GENESIS_BALANCE, Chain, address_of, key_from_seed


def _codes(chain: Chain, tx: bytes) -> tuple[int, int, str]:
    """(CheckTx code, FinalizeBlock code, CheckTx log) with no state change in either."""
    checked = chain.check(tx)
    assert chain.app.check_state.write_count() == 0
    before = chain.app.committed.app_hash
    result = chain.finalize([tx]).tx_results[0]
    assert chain.app.pending is not None
    unchanged = chain.app.pending.app_hash
    chain.app.discard_uncommitted()
    empty = chain.finalize([]).app_hash
    chain.app.discard_uncommitted()
    assert unchanged == empty, "a refused tx changed the app hash"
    assert chain.app.committed.app_hash == before
    return checked.code, result.code, checked.log


def test_valid_send_is_accepted_and_moves_coins(chain: Chain, outsider: str) -> None:
    tx = chain.send_tx(0, outsider, 500)

    assert chain.check(tx).code == 0
    result = chain.block([tx]).tx_results[0]

    assert result.code == 0, result.log
    assert chain.balance(outsider) == 500
    assert chain.balance(chain.addresses[0]) == GENESIS_BALANCE - 500 - FEE
    assert chain.balance(fee_collector_address()) == FEE
    code, account = chain.query_result(f"/auth/account/{chain.addresses[0]}")
    assert code == 0 and account["sequence"] == 1  # type: ignore[index]


def test_tampered_signature_is_refused_with_code_26(chain: Chain, outsider: str) -> None:
    envelope = tx_pb2.Tx.FromString(chain.send_tx(0, outsider, 5))
    envelope.signature = bytes([envelope.signature[0] ^ 1]) + envelope.signature[1:]
    tx = envelope.SerializeToString(deterministic=True)

    check, final, log = _codes(chain, tx)

    assert (check, final) == (26, 26)
    assert "signature" in log


def test_signature_by_another_key_is_refused(chain: Chain, outsider: str) -> None:
    good = tx_pb2.Tx.FromString(chain.send_tx(0, outsider, 5))
    forged = txlib.encode_tx(good.body, txlib.sign(key_from_seed(77), good.body))
    assert _codes(chain, forged)[:2] == (26, 26)


def test_wrong_chain_id_is_refused_with_code_24(chain: Chain, outsider: str) -> None:
    check, final, log = _codes(chain, chain.send_tx(0, outsider, 5, chain_id="other-chain"))
    assert (check, final) == (24, 24)
    assert "other-chain" in log and "race-test" in log


@pytest.mark.parametrize("sequence", [1, 7])
def test_wrong_sequence_is_refused_with_code_41(chain: Chain, outsider: str, sequence: int) -> None:
    check, final, log = _codes(chain, chain.send_tx(0, outsider, 5, sequence=sequence))
    assert (check, final) == (41, 41)
    assert "sequence 0" in log


def test_replayed_tx_is_refused_by_sequence(chain: Chain, outsider: str) -> None:
    tx = chain.send_tx(0, outsider, 5)
    chain.block([tx])
    assert _codes(chain, tx)[:2] == (41, 41)


def test_fee_beyond_balance_is_refused_with_code_43(chain: Chain, outsider: str) -> None:
    tx = chain.send_tx(0, outsider, 1, fee=GENESIS_BALANCE + 1)
    assert _codes(chain, tx)[:2] == (43, 43)


def test_fee_below_minimum_is_refused_with_code_42(chain: Chain, outsider: str) -> None:
    assert _codes(chain, chain.send_tx(0, outsider, 1, fee=FEE - 1))[:2] == (42, 42)


def test_unfunded_signer_is_refused_with_code_40(chain: Chain) -> None:
    stranger = key_from_seed(555)
    message = MsgSend(from_address=address_of(stranger), to_address=chain.addresses[0],
                      amount_nicoin=1)
    tx = txlib.build_signed_tx(stranger, "race-test", 0, FEE, [message])
    assert _codes(chain, tx)[:2] == (40, 40)


def test_amount_beyond_balance_is_refused_in_check_tx(chain: Chain, outsider: str) -> None:
    tx = chain.send_tx(0, outsider, GENESIS_BALANCE)  # the fee leaves too little
    response = chain.check(tx)
    assert response.code == 62
    assert chain.app.check_state.write_count() == 0


def test_amount_beyond_balance_in_a_block_fails_but_pays_its_fee(
    chain: Chain, outsider: str
) -> None:
    tx = chain.send_tx(0, outsider, GENESIS_BALANCE)

    result = chain.block([tx]).tx_results[0]

    assert result.code == 62
    assert "needs" in result.log
    assert chain.balance(outsider) == 0
    assert chain.balance(chain.addresses[0]) == GENESIS_BALANCE - FEE
    assert [e.type for e in result.events] == ["tx"]


def test_oversized_tx_is_refused_with_code_20(chain: Chain, outsider: str) -> None:
    message = MsgSend(from_address=chain.addresses[0], to_address=outsider, amount_nicoin=1)
    tx = chain.signed(0, [message], memo="")
    big = chain.signed(0, [message] * 600, sequence=0)
    assert len(big) > 65536 > len(tx)
    assert _codes(chain, big)[:2] == (20, 20)


def test_memo_too_long_is_refused_with_code_31(chain: Chain, outsider: str) -> None:
    message = MsgSend(from_address=chain.addresses[0], to_address=outsider, amount_nicoin=1)
    assert _codes(chain, chain.signed(0, [message], memo="x" * 257))[:2] == (31, 31)


def test_too_many_messages_is_refused_with_code_28(chain: Chain, outsider: str) -> None:
    message = MsgSend(from_address=chain.addresses[0], to_address=outsider, amount_nicoin=1)
    assert _codes(chain, chain.signed(0, [message] * 33))[:2] == (28, 28)


def test_empty_tx_is_refused_with_code_27(chain: Chain) -> None:
    assert _codes(chain, chain.signed(0, []))[:2] == (27, 27)


def test_unknown_message_type_is_refused_with_code_29(chain: Chain) -> None:
    key = chain.keys[0]
    body = TxBody(chain_id="race-test", signer_public_key=txlib.public_key_bytes(key),
                  fee_nicoin=FEE)
    body.messages.add(type_url="/race.v1.MsgMintForMe", value=b"")
    raw = body.SerializeToString(deterministic=True)
    tx = txlib.encode_tx(raw, txlib.sign(key, raw))
    check, final, log = _codes(chain, tx)
    assert (check, final) == (29, 29)
    assert "/race.v1.MsgSend" in log


def test_send_from_someone_else_is_refused_with_code_63(chain: Chain, outsider: str) -> None:
    message = MsgSend(from_address=chain.addresses[1], to_address=outsider, amount_nicoin=1)
    tx = chain.signed(0, [message])
    assert chain.check(tx).code == 63


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"to_address": "race1notanaddress"}, 60),
        ({"to_address": ""}, 60),
        ({"amount_nicoin": 0}, 61),
        ({"amount_nicoin": 10**18 + 1}, 61),
    ],
)
def test_malformed_send_is_refused_statelessly(chain: Chain, outsider: str, fields: dict,
                                               code: int) -> None:
    message = MsgSend(from_address=chain.addresses[0], to_address=outsider, amount_nicoin=1)
    for name, value in fields.items():
        setattr(message, name, value)
    assert _codes(chain, chain.signed(0, [message]))[:2] == (code, code)


def test_check_tx_tracks_pending_sequences(chain: Chain, outsider: str) -> None:
    first, second = chain.send_tx(0, outsider, 1), chain.send_tx(0, outsider, 1)

    assert [chain.check(first).code, chain.check(second).code] == [0, 0]
    assert chain.check(first).code == 41  # already pending

    results = chain.block([first, second]).tx_results
    assert [r.code for r in results] == [0, 0]


def test_every_tx_result_carries_events_for_query_tx(chain: Chain, outsider: str) -> None:
    result = chain.block([chain.send_tx(0, outsider, 9)]).tx_results[0]
    events = {e.type: {a.key: a.value for a in e.attributes} for e in result.events}

    assert events["tx"] == {"signer": chain.addresses[0], "sequence": "0", "fee": str(FEE)}
    assert events["message"]["action"] == "/race.v1.MsgSend"
    assert events["transfer"] == {"sender": chain.addresses[0], "recipient": outsider,
                                  "amount": "9"}
