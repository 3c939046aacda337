"""Transactions: keys and addresses, the signed envelope, and its stateless checks.

The stable interface for wallets, the CLI and the load generator (docs/modules.md §11).
"""

from abci_app.tx.codec import (
    DecodedTx,
    build_signed_tx,
    decode_tx,
    encode_body,
    encode_tx,
    pack,
    tx_hash,
    tx_hash_hex,
)
from abci_app.tx.errors import TxError
from abci_app.tx.keys import (
    ADDRESS_PREFIX,
    address_from_public_key,
    decode_address,
    encode_address,
    generate_private_key,
    is_valid_address,
    module_address,
    private_key_bytes,
    private_key_from_bytes,
    public_key_bytes,
    sign,
    verify,
)

__all__ = [
    "ADDRESS_PREFIX",
    "DecodedTx",
    "TxError",
    "address_from_public_key",
    "build_signed_tx",
    "decode_address",
    "decode_tx",
    "encode_address",
    "encode_body",
    "encode_tx",
    "generate_private_key",
    "is_valid_address",
    "module_address",
    "pack",
    "private_key_bytes",
    "private_key_from_bytes",
    "public_key_bytes",
    "sign",
    "tx_hash",
    "tx_hash_hex",
    "verify",
]
