"""An attestation's verdicts as two bitmaps over the cycle's opened nodes (docs/race.md,
"Validation and attestation").

When the opening window closes, the chain numbers the nodes whose samples are all open,
``0..n-1`` in operator address order. A validator's one attestation per cycle carries two
bitmaps of ``ceil(n/8)`` bytes: bit ``i`` (byte ``i // 8``, least significant bit first)
of ``passed`` says node ``i``'s sample recomputed as a valid proof on its sidecar, of
``failed`` that it did not. A node in neither is one the validator did not judge. Two
bits per node keep 1,000 nodes' verdicts in 250 bytes per validator.
"""

from __future__ import annotations

from collections.abc import Iterable


class InvalidVerdicts(ValueError):
    """Bitmaps of the wrong length, with bits past the last node, or a node in both."""


def bitmap_bytes(nodes: int) -> int:
    return (nodes + 7) // 8


def encode(indices: Iterable[int], nodes: int) -> bytes:
    """A bitmap of ``nodes`` bits with ``indices`` set."""
    bitmap = bytearray(bitmap_bytes(nodes))
    for index in indices:
        if not 0 <= index < nodes:
            raise ValueError(f"node index {index} outside 0..{nodes - 1}")
        bitmap[index // 8] |= 1 << (index % 8)
    return bytes(bitmap)


def decode(bitmap: bytes, nodes: int) -> list[int]:
    """The indices set in ``bitmap``, ascending; refuses a wrong length or stray bits."""
    if len(bitmap) != bitmap_bytes(nodes):
        raise InvalidVerdicts(f"a bitmap over {nodes} nodes is {bitmap_bytes(nodes)} bytes, "
                              f"not {len(bitmap)}")
    if nodes % 8 and bitmap and bitmap[-1] >> (nodes % 8):
        raise InvalidVerdicts(f"bits set past node {nodes - 1}")
    return [8 * position + bit for position, byte in enumerate(bitmap) if byte
            for bit in range(8) if byte >> bit & 1]


def decode_pair(passed: bytes, failed: bytes, nodes: int) -> tuple[list[int], list[int]]:
    """Both bitmaps of an attestation; refuses a node marked both passed and failed."""
    passing, failing = decode(passed, nodes), decode(failed, nodes)
    both = set(passing) & set(failing)
    if both:
        raise InvalidVerdicts(f"node {min(both)} is marked both passed and failed")
    return passing, failing
