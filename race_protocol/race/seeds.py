"""Seeds of the Race (whitepaper Appendix A "Initialization", Appendix B).

* The race seed is opaque bytes produced by the chain's commit-reveal (Appendix B).
* The node seed is derived from the node's public key bytes.
* Every stream of pseudo-random numbers (each weight tensor, the target vector, the input
  sequences, the permutations) gets its own 64-bit key from SHA-256 over a domain tag and
  the seeds, so no stream can be steered by choosing another.

Pure Python (hashlib): the chain side imports this without numpy or torch.
"""

from __future__ import annotations

import hashlib

NODE_SEED_DOMAIN = b"race/v1/node-seed"
STREAM_DOMAIN = b"race/v1/stream"
MAX_RACE_SEED_BYTES = 1024
MAX_PUBLIC_KEY_BYTES = 1024
MAX_NONCE = (1 << 64) - 1


class InvalidSeed(ValueError):
    """An empty or oversized seed or public key, or a nonce outside uint64."""


def node_seed(node_public_key: bytes) -> bytes:
    """The node's 32-byte seed: SHA-256(b"race/v1/node-seed" || public key bytes)."""
    if not node_public_key:
        raise InvalidSeed("node public key is empty")
    if len(node_public_key) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidSeed(f"node public key longer than {MAX_PUBLIC_KEY_BYTES} bytes")
    return hashlib.sha256(NODE_SEED_DOMAIN + node_public_key).digest()


def check_race_seed(race_seed: bytes) -> bytes:
    """Reject an empty or oversized race seed; return it unchanged."""
    if not race_seed:
        raise InvalidSeed("race seed is empty")
    if len(race_seed) > MAX_RACE_SEED_BYTES:
        raise InvalidSeed(f"race seed longer than {MAX_RACE_SEED_BYTES} bytes")
    return race_seed


def check_nonce(nonce: int) -> int:
    """Nonces are unsigned 64-bit integers."""
    if not 0 <= nonce <= MAX_NONCE:
        raise InvalidSeed(f"nonce {nonce} outside [0, 2**64)")
    return nonce


def _length_prefixed(part: bytes) -> bytes:
    return len(part).to_bytes(4, "big") + part


def stream_key(label: str, *parts: bytes) -> tuple[int, int]:
    """Two 32-bit key words for the stream ``label`` under ``parts`` (e.g. the race seed).

    key = SHA-256(b"race/v1/stream" || len-prefixed label || len-prefixed parts...)[0:8],
    read as two big-endian uint32 words (k0, k1).
    """
    message = STREAM_DOMAIN + _length_prefixed(label.encode())
    for part in parts:
        message += _length_prefixed(part)
    digest = hashlib.sha256(message).digest()
    return int.from_bytes(digest[0:4], "big"), int.from_bytes(digest[4:8], "big")
