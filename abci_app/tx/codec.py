"""Encoding, signing and decoding of the signed tx envelope (proto/race/v1/tx.proto).

The signature covers the TxBody's exact bytes. Both the envelope and the body must be in
canonical (deterministic protobuf) form, so one signed body has exactly one tx hash and
a relayer cannot re-encode a tx into a second mempool entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from abci_app.tx import errors
from abci_app.tx.keys import (
    PUBLIC_KEY_BYTES,
    address_from_public_key,
    public_key_bytes,
    sign,
)
from race_protocol.gen.race.v1 import tx_pb2

UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class DecodedTx:
    """A structurally valid tx: envelope and body decoded, messages still packed."""

    raw: bytes
    hash: bytes
    body_bytes: bytes
    signature: bytes
    chain_id: str
    public_key: bytes
    signer: str
    sequence: int
    fee_nicoin: int
    memo: str
    messages: tuple[AnyMessage, ...]


def tx_hash(tx_bytes: bytes) -> bytes:
    """The hash CometBFT indexes a tx by: SHA-256 of its bytes."""
    return hashlib.sha256(tx_bytes).digest()


def tx_hash_hex(tx_bytes: bytes) -> str:
    """The tx hash as CometBFT prints it (upper-case hex)."""
    return tx_hash(tx_bytes).hex().upper()


def pack(message: Message) -> AnyMessage:
    """Wrap a message in ``Any`` under the type URL ``/`` + full name, canonically encoded."""
    return AnyMessage(
        type_url="/" + message.DESCRIPTOR.full_name,
        value=message.SerializeToString(deterministic=True),
    )


def encode_body(
    chain_id: str,
    public_key: bytes,
    sequence: int,
    fee_nicoin: int,
    messages: Iterable[Message],
    memo: str = "",
) -> bytes:
    """The TxBody bytes a signer signs."""
    body = tx_pb2.TxBody(
        chain_id=chain_id,
        signer_public_key=public_key,
        sequence=sequence,
        fee_nicoin=fee_nicoin,
        messages=[pack(m) for m in messages],
        memo=memo,
    )
    return body.SerializeToString(deterministic=True)


def encode_tx(body_bytes: bytes, signature: bytes) -> bytes:
    """The envelope bytes that go into a block."""
    return tx_pb2.Tx(body=body_bytes, signature=signature).SerializeToString(deterministic=True)


def build_signed_tx(
    private_key: Ed25519PrivateKey,
    chain_id: str,
    sequence: int,
    fee_nicoin: int,
    messages: Iterable[Message],
    memo: str = "",
) -> bytes:
    """A complete signed tx, ready for ``broadcast_tx_*``."""
    body_bytes = encode_body(
        chain_id, public_key_bytes(private_key), sequence, fee_nicoin, messages, memo
    )
    return encode_tx(body_bytes, sign(private_key, body_bytes))


def decode_tx(tx_bytes: bytes) -> DecodedTx:
    """Decode and structurally check a tx; raises a ChainError with the refusal's code."""
    try:
        envelope = tx_pb2.Tx.FromString(tx_bytes)
    except Exception as bad:  # upb raises DecodeError; anything else is just as undecodable
        raise errors.TX_UNDECODABLE(f"{bad}; build txs with abci_app.tx.build_signed_tx") from None
    envelope.DiscardUnknownFields()
    if envelope.SerializeToString(deterministic=True) != tx_bytes:
        raise errors.TX_NON_CANONICAL(
            "re-encode the Tx with deterministic protobuf serialization and no unknown fields"
        )
    try:
        body = tx_pb2.TxBody.FromString(envelope.body)
    except Exception as bad:
        raise errors.BODY_UNDECODABLE(f"{bad}") from None
    body.DiscardUnknownFields()
    if body.SerializeToString(deterministic=True) != envelope.body:
        raise errors.TX_NON_CANONICAL(
            "re-encode the TxBody with deterministic protobuf serialization and no unknown fields"
        )
    public_key = body.signer_public_key
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise errors.BAD_PUBLIC_KEY(
            f"signer_public_key must be a {PUBLIC_KEY_BYTES}-byte ed25519 key, "
            f"got {len(public_key)} bytes"
        )
    return DecodedTx(
        raw=tx_bytes,
        hash=tx_hash(tx_bytes),
        body_bytes=envelope.body,
        signature=envelope.signature,
        chain_id=body.chain_id,
        public_key=public_key,
        signer=address_from_public_key(public_key),
        sequence=body.sequence,
        fee_nicoin=body.fee_nicoin,
        memo=body.memo,
        messages=tuple(body.messages),
    )
