"""Account keys (ed25519) and addresses: bech32 ``race1...`` of SHA-256(pubkey)[:20]."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from abci_app.tx import bech32

ADDRESS_PREFIX = "race"
ADDRESS_BYTES = 20
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh random ed25519 key."""
    return Ed25519PrivateKey.generate()


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    """The key whose 32-byte seed is ``raw``."""
    return Ed25519PrivateKey.from_private_bytes(raw)


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte seed of a private key (keep it secret; never log it)."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte public key of a private key."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def encode_address(raw: bytes) -> str:
    """bech32 text of 20 address bytes."""
    if len(raw) != ADDRESS_BYTES:
        raise ValueError(f"an address is {ADDRESS_BYTES} bytes, got {len(raw)}")
    return bech32.encode(ADDRESS_PREFIX, raw)


@lru_cache(maxsize=65536)
def address_from_public_key(public_key: bytes) -> str:
    """The account address of an ed25519 public key: bech32(race, SHA-256(key)[:20])."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(
            f"an ed25519 public key is {PUBLIC_KEY_BYTES} bytes, got {len(public_key)}"
        )
    return encode_address(hashlib.sha256(public_key).digest()[:ADDRESS_BYTES])


@lru_cache(maxsize=65536)
def decode_address(address: str) -> bytes:
    """The 20 bytes behind a ``race1...`` address; ValueError says what is wrong."""
    prefix, raw = bech32.decode(address)
    if prefix != ADDRESS_PREFIX:
        raise ValueError(f"address prefix is {prefix!r}, expected {ADDRESS_PREFIX!r}")
    if len(raw) != ADDRESS_BYTES:
        raise ValueError(f"address holds {len(raw)} bytes, expected {ADDRESS_BYTES}")
    if address != address.lower():
        raise ValueError("write addresses in lower case")
    return raw


def is_valid_address(address: str) -> bool:
    """Whether ``address`` is a well-formed lower-case ``race1...`` address."""
    try:
        decode_address(address)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=256)
def module_address(module_name: str) -> str:
    """The address of a module account (e.g. the fee collector): no private key exists for it."""
    digest = hashlib.sha256(b"race/module-account/" + module_name.encode()).digest()
    return encode_address(digest[:ADDRESS_BYTES])


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """An ed25519 signature."""
    return key.sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s ed25519 signature of ``message``.

    Consensus code: every validator must reach the same verdict, so one implementation
    decides, libsodium's (strict: it refuses non-canonical and small-order points, and
    it is about twice as fast as OpenSSL's here). ``verify_openssl`` is kept for tools.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def verify_openssl(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """The same check through OpenSSL (the ``cryptography`` package); not used in consensus."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
