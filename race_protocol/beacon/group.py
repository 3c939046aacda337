"""The prime-order group of the beacon: ed25519's main subgroup, through libsodium.

Every group and scalar operation is one libsodium call (PyNaCl's ``nacl.bindings``);
nothing here does curve arithmetic itself. Points are 32-byte compressed encodings,
scalars 32-byte little-endian integers below the group order ``L``.

The cofactor: ed25519 has order ``8·L``. :func:`point` accepts only canonical encodings
of points in the order-``L`` subgroup other than the identity
(``crypto_core_ed25519_is_valid_point``), so a small-order component can never ride along
in a commitment, a share or a key. Every point the beacon computes from such points stays
in that subgroup.

libsodium refuses to multiply the identity or to return it from a scalar multiplication
(``RuntimeError``); :func:`mul` and :func:`base_mul` turn that into
:class:`DegenerateValue`, which callers treat as "this input does not verify".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable

from nacl import bindings as sodium
from nacl.exceptions import RuntimeError as SodiumRuntimeError

POINT_BYTES = 32
SCALAR_BYTES = 32
ORDER = 2**252 + 27742317777372353535851937790883648493
"""``L``, the order of the main subgroup (and of the scalar field)."""

BASE = sodium.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(SCALAR_BYTES, "little"))
"""``B``: the ed25519 base point."""

IDENTITY = b"\x01" + bytes(POINT_BYTES - 1)
"""The neutral element's encoding: only ever an accumulator's start, never a valid input."""

SECOND_GENERATOR_TAG = b"race/v1/beacon/second-generator"
SECOND_GENERATOR = sodium.crypto_core_ed25519_from_uniform(
    hashlib.sha512(SECOND_GENERATOR_TAG).digest()[:32])
"""``H``: a generator whose discrete log to ``B`` nobody knows.

libsodium's Elligator 2 map of SHA-512(b"race/v1/beacon/second-generator")[:32], which
clears the cofactor, so ``H`` lies in the main subgroup.
"""

ZERO = bytes(SCALAR_BYTES)
ONE = (1).to_bytes(SCALAR_BYTES, "little")

Rng = Callable[[int], bytes]


class BeaconCryptoError(ValueError):
    """An input that is not what the protocol allows; the message says which."""


class InvalidPoint(BeaconCryptoError):
    """Not a canonical, non-identity point of the order-L subgroup."""


class InvalidScalar(BeaconCryptoError):
    """Not a canonical 32-byte scalar (below L), or zero where zero is not allowed."""


class DegenerateValue(BeaconCryptoError):
    """A multiplication whose input or result is the identity (libsodium refuses it)."""


def point(encoded: bytes, what: str = "point") -> bytes:
    """``encoded`` if it is a valid main-subgroup point, else :class:`InvalidPoint`."""
    if len(encoded) != POINT_BYTES:
        raise InvalidPoint(f"{what} is {len(encoded)} bytes, not {POINT_BYTES}")
    if not sodium.crypto_core_ed25519_is_valid_point(encoded):
        raise InvalidPoint(f"{what} is not a point of ed25519's prime-order subgroup")
    return bytes(encoded)


def scalar(encoded: bytes, what: str = "scalar", *, nonzero: bool = False) -> bytes:
    """``encoded`` if it is a canonical scalar (and nonzero when asked), else InvalidScalar."""
    if len(encoded) != SCALAR_BYTES:
        raise InvalidScalar(f"{what} is {len(encoded)} bytes, not {SCALAR_BYTES}")
    if int.from_bytes(encoded, "little") >= ORDER:
        raise InvalidScalar(f"{what} is not reduced below the group order")
    if nonzero and encoded == ZERO:
        raise InvalidScalar(f"{what} is zero")
    return bytes(encoded)


def scalar_of_int(value: int) -> bytes:
    """A small non-negative integer (a share index, a count) as a scalar."""
    if not 0 <= value < ORDER:
        raise InvalidScalar(f"{value} is not in [0, L)")
    return value.to_bytes(SCALAR_BYTES, "little")


def random_scalar(rng: Rng = os.urandom) -> bytes:
    """A uniformly random nonzero scalar (64 random bytes reduced mod L)."""
    while True:
        candidate = sodium.crypto_core_ed25519_scalar_reduce(rng(64))
        if candidate != ZERO:
            return candidate


def _length_prefixed(part: bytes) -> bytes:
    return len(part).to_bytes(4, "big") + part


def hash_to_scalar(domain: bytes, *parts: bytes) -> bytes:
    """SHA-512 over the domain tag and length-prefixed parts, reduced mod L (Fiat-Shamir)."""
    digest = hashlib.sha512(_length_prefixed(domain))
    for part in parts:
        digest.update(_length_prefixed(part))
    return sodium.crypto_core_ed25519_scalar_reduce(digest.digest())


# --- scalars (the field Z/L) ---------------------------------------------------------------

def s_add(a: bytes, b: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_add(a, b)


def s_sub(a: bytes, b: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_sub(a, b)


def s_mul(a: bytes, b: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_mul(a, b)


def s_neg(a: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_negate(a)


def s_inv(a: bytes) -> bytes:
    """The inverse of a nonzero scalar."""
    if a == ZERO:
        raise DegenerateValue("zero has no inverse")
    return sodium.crypto_core_ed25519_scalar_invert(a)


# --- points --------------------------------------------------------------------------------

def base_mul(k: bytes) -> bytes:
    """``k·B``; :class:`DegenerateValue` when ``k`` is zero."""
    try:
        return sodium.crypto_scalarmult_ed25519_base_noclamp(k)
    except SodiumRuntimeError:
        raise DegenerateValue("k·B is the identity") from None


def mul(k: bytes, p: bytes) -> bytes:
    """``k·P`` (``B`` takes libsodium's faster base path); DegenerateValue when ``k·P`` is
    the identity or ``P`` is not a main-subgroup point."""
    if p == BASE:
        return base_mul(k)
    try:
        return sodium.crypto_scalarmult_ed25519_noclamp(k, p)
    except SodiumRuntimeError:
        raise DegenerateValue("k·P is the identity, or P is not a valid point") from None


def add(p: bytes, q: bytes) -> bytes:
    return sodium.crypto_core_ed25519_add(p, q)


def sub(p: bytes, q: bytes) -> bytes:
    return sodium.crypto_core_ed25519_sub(p, q)


def linear_combination(terms: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``Σ k·P`` over ``(k, P)`` terms; zero coefficients are skipped, and the sum may be the
    identity (compare it, never multiply it)."""
    total = IDENTITY
    for k, p in terms:
        if k != ZERO:
            total = add(total, mul(k, p))
    return total
