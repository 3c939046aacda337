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


def _encode_scalar(value: Scalar, out: list[bytes]) -> None:
    """Type-tagged, length-prefixed encoding: distinct values never share an encoding."""
    if value is None:
        out.append(b"n")
    elif isinstance(value, bool):
        out.append(b"t" if value else b"f")
    elif isinstance(value, int):
        text = str(value).encode()
        out.append(b"i%d:" % len(text) + text)
    elif isinstance(value, str):
        raw = value.encode()
        out.append(b"s%d:" % len(raw) + raw)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"b%d:" % len(raw) + raw)
    else:
        raise TypeError(f"consensus state cannot hold {type(value).__name__}")


def canonical_row(table: str, key: tuple[Scalar, ...], values: tuple[Scalar, ...]) -> bytes:
    """The bytes hashed for one row: table name, key columns, then value columns."""
    out: list[bytes] = []
    _encode_scalar(table, out)
    out.append(b"k%d:" % len(key))
    for part in key:
        _encode_scalar(part, out)
    out.append(b"v%d:" % len(values))
    for part in values:
        _encode_scalar(part, out)
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
