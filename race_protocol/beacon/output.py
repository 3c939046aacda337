"""The beacon's output: one 32-byte value per round (whitepaper Appendix B, "the final
random number is the product of contributions from multiple participants").

* A completed round: ``SHA-256(b"race/v1/beacon/output" || round || for each included
  dealer in address order: len(address) || address || σ)``, where ``σ = s·H`` is the
  dealer's revealed or recovered contribution. Revealing and recovering give the same
  ``σ``, so the output does not depend on who revealed.
* A failed round (no included dealer, or a contribution neither revealed nor recovered):
  ``SHA-256(b"race/v1/beacon/failed" || round || previous output)``, so every round still
  yields a fresh value, but a predictable one (docs/beacon.md says what consumers do).
* Before the first round completes: the genesis value,
  ``SHA-256(b"race/v1/beacon/genesis" || chain id)`` unless genesis sets another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

OUTPUT_BYTES = 32
OUTPUT_DOMAIN = b"race/v1/beacon/output"
FAILED_DOMAIN = b"race/v1/beacon/failed"
GENESIS_DOMAIN = b"race/v1/beacon/genesis"


def round_output(round_id: int, contributions: Iterable[tuple[str, bytes]]) -> bytes:
    """The output of a completed round from ``(dealer address, σ)`` pairs, in any order
    (they are hashed in address order)."""
    digest = hashlib.sha256(OUTPUT_DOMAIN + round_id.to_bytes(8, "big"))
    for address, sigma in sorted(contributions):
        encoded = address.encode()
        digest.update(len(encoded).to_bytes(2, "big") + encoded + sigma)
    return digest.digest()


def failed_round_output(round_id: int, previous_output: bytes) -> bytes:
    """The value of a round that failed: the previous output chained with the round id."""
    return hashlib.sha256(FAILED_DOMAIN + round_id.to_bytes(8, "big")
                          + previous_output).digest()


def genesis_output(chain_id: str) -> bytes:
    """The documented seed before any round completes, distinct per chain."""
    return hashlib.sha256(GENESIS_DOMAIN + chain_id.encode()).digest()
