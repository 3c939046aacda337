"""The signed envelope, addresses and denominations: encodings round-trip and bad input is named."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abci_app.tx as txlib
from abci_app.modules.bank.denom import AmountError, format_amount, parse_amount
from abci_app.tx import bech32
from race_protocol.gen.race.v1 import tx_pb2
from race_protocol.gen.race.v1.bank_pb2 import MsgSend

from .conftest import address_of, key_from_seed


def test_signed_tx_round_trips_through_decode() -> None:
    key = key_from_seed(1)
    sender = address_of(key)
    message = MsgSend(from_address=sender, to_address=address_of(key_from_seed(2)), amount_nicoin=7)

    raw = txlib.build_signed_tx(key, "c-1", 5, 1234, [message], memo="rent")
    decoded = txlib.decode_tx(raw)

    assert (decoded.chain_id, decoded.sequence, decoded.fee_nicoin, decoded.memo) == (
        "c-1", 5, 1234, "rent"
    )
    assert decoded.signer == sender
    assert decoded.messages[0].type_url == "/race.v1.MsgSend"
    assert MsgSend.FromString(decoded.messages[0].value) == message
    assert txlib.verify(decoded.public_key, decoded.signature, decoded.body_bytes)
    assert decoded.hash == hashlib.sha256(raw).digest() == txlib.tx_hash(raw)
    assert txlib.tx_hash_hex(raw) == hashlib.sha256(raw).hexdigest().upper()


def test_re_encoded_envelope_with_unknown_field_is_refused() -> None:
    raw = txlib.build_signed_tx(key_from_seed(1), "c", 0, 1, [MsgSend(amount_nicoin=1)])
    padded = raw + b"\x18\x01"  # field 3, varint 1: unknown to race.v1.Tx

    with pytest.raises(txlib.TxError) as refusal:
        txlib.decode_tx(padded)

    assert refusal.value.code == 22


def test_garbage_is_undecodable() -> None:
    with pytest.raises(txlib.TxError) as refusal:
        txlib.decode_tx(b"\xff\xff\xff")
    assert refusal.value.code == 21


def test_short_public_key_is_refused() -> None:
    body = tx_pb2.TxBody(chain_id="c", signer_public_key=b"\x01" * 31).SerializeToString()
    raw = txlib.encode_tx(body, b"\x00" * 64)
    with pytest.raises(txlib.TxError) as refusal:
        txlib.decode_tx(raw)
    assert refusal.value.code == 25


def test_address_has_race_prefix_and_round_trips() -> None:
    public_key = txlib.public_key_bytes(key_from_seed(3))
    address = txlib.address_from_public_key(public_key)

    assert address.startswith("race1")
    assert txlib.decode_address(address) == hashlib.sha256(public_key).digest()[:20]
    assert txlib.is_valid_address(address)


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda a: a[:-1] + ("q" if a[-1] != "q" else "p"), "checksum"),
        (lambda a: a.upper()[:6] + a[6:], "mixes"),
        (lambda a: a.upper(), "lower case"),
        (lambda a: bech32.encode("cosmos", txlib.decode_address(a)), "prefix"),
        (lambda a: bech32.encode("race", b"\x01" * 19), "19 bytes"),
        (lambda a: "race1" + "b" * 38, "alphabet"),
        (lambda a: "", "separator"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(mangle, reason: str) -> None:
    address = address_of(key_from_seed(4))
    with pytest.raises(ValueError, match=reason):
        txlib.decode_address(mangle(address))


def test_bech32_matches_the_bip173_test_vector() -> None:
    # BIP-173's valid vector: "a12uel5l" is prefix "a" with no data.
    assert bech32.decode("a12uel5l") == ("a", b"")
    assert bech32.encode("a", b"") == "a12uel5l"


@given(st.binary(min_size=20, max_size=20))
@settings(max_examples=300)
def test_any_20_bytes_round_trip_as_an_address(raw: bytes) -> None:
    assert txlib.decode_address(txlib.encode_address(raw)) == raw


@pytest.mark.parametrize(
    "text, nicoin",
    [
        ("1.5icoin", 1_500_000_000),
        ("300nicoin", 300),
        ("2micoin", 2_000_000),
        ("0.001uicoin", 1),
        ("1.000icoin", 1_000_000_000),
        (" 7 icoin ", 7_000_000_000),
    ],
)
def test_parse_amount(text: str, nicoin: int) -> None:
    assert parse_amount(text) == nicoin


@pytest.mark.parametrize(
    "nicoin, text",
    [(1_500_000_000, "1.5icoin"), (300, "300nicoin"), (0, "0nicoin"), (1_500, "1.5uicoin"),
     (10**18, "1000000000icoin")],
)
def test_format_amount(nicoin: int, text: str) -> None:
    assert format_amount(nicoin) == text


@pytest.mark.parametrize("text", ["1.5", "1.5xcoin", "0.0000000001icoin", "1.5 5icoin", "-1icoin"])
def test_unreadable_amounts_are_refused(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=10**18))
@settings(max_examples=500)
def test_format_then_parse_is_identity(nicoin: int) -> None:
    assert parse_amount(format_amount(nicoin)) == nicoin
