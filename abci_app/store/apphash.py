"""The app hash: an additive set hash over every row of every module table.

DESIGN.md §3: the app hash is deterministic, equal on every validator, changes exactly
when state changes, and costs O(writes in the block), not O(state). Each row maps to
SHAKE256(canonical row) read as a 2048-bit integer; the state digest is the sum of all
rows' values mod 2^2048 (AdHash), so replacing a row is one subtraction and one addition.
"""

from __future__ import annotations

import hashlib

DIGEST_BYTES = 256
_MASK = (1 << (8 * DIGEST_BYTES)) - 1
_DOMAIN = b"race/app-hash/v1"

Scalar = int | str | bytes | bool | None


def _encode_int(value: int) -> bytes:
    # Decimal digits never contain ";", so the terminator makes the encoding prefix-free.
    return b"i%d;" % value


def _encode_str(value: str) -> bytes:
    raw = value.encode()
    return b"s%d:%s" % (len(raw), raw)


def _encode_bytes(value: bytes) -> bytes:
    return b"b%d:%s" % (len(value), value)


# Type-tagged and prefix-free: distinct rows never share an encoding. Dispatch on the
# exact type (bool is not treated as int).
_ENCODERS = {
    int: _encode_int,
    str: _encode_str,
    bytes: _encode_bytes,
    bool: lambda value: b"t" if value else b"f",
    type(None): lambda _value: b"n",
}


def _encode_scalar(value: Scalar) -> bytes:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        if isinstance(value, bytearray | memoryview):
            return _encode_bytes(bytes(value))
        raise TypeError(f"consensus state cannot hold {type(value).__name__}")
    return encoder(value)  # type: ignore[operator]


def canonical_row(table: str, key: tuple[Scalar, ...], values: tuple[Scalar, ...]) -> bytes:
    """The bytes hashed for one row: table name, key columns, then value columns."""
    encoders = _ENCODERS
    out = [_encode_str(table), b"k%d:" % len(key)]
    for part in key:
        encoder = encoders.get(type(part))
        out.append(encoder(part) if encoder is not None else _encode_scalar(part))  # type: ignore[operator]
    out.append(b"v%d:" % len(values))
    for part in values:
        encoder = encoders.get(type(part))
        out.append(encoder(part) if encoder is not None else _encode_scalar(part))  # type: ignore[operator]
    return b"".join(out)


def row_term(table: str, key: tuple[Scalar, ...], values: tuple[Scalar, ...]) -> int:
    """One row's contribution to the state digest."""
    digest = hashlib.shake_256(canonical_row(table, key, values)).digest(DIGEST_BYTES)
    return int.from_bytes(digest, "little")


def add_term(digest: int, term: int) -> int:
    """Add a row to the digest."""
    return (digest + term) & _MASK


def remove_term(digest: int, term: int) -> int:
    """Remove a row from the digest."""
    return (digest - term) & _MASK


def digest_to_bytes(digest: int) -> bytes:
    """Fixed-width encoding of the state digest, stored with each commit."""
    return digest.to_bytes(DIGEST_BYTES, "little")


def digest_from_bytes(raw: bytes) -> int:
    """Inverse of :func:`digest_to_bytes`."""
    return int.from_bytes(raw, "little")


def app_hash(digest: int) -> bytes:
    """The 32-byte app hash CometBFT puts in the next block header."""
    return hashlib.sha256(_DOMAIN + digest_to_bytes(digest)).digest()
