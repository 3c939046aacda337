"""Which leaves a node must open (docs/race.md, "Proof commitments").

After the commit deadline the chain draws, for each node that committed ``(root, count)``,
``min(k, count)`` distinct ranks below ``count`` from a beacon output finalized after the
deadline (DESIGN.md section 5: randomness only from the beacon), so no node can choose its
leaves knowing which will be checked. The draw is a partial Fisher-Yates shuffle of
``0..count-1``: exactly one hash per sample, no rejection loop. Each step reduces a
256-bit hash modulo the remaining span, a bias below ``count / 2^256``.

Pure Python: the chain draws with it, agents and validators recompute it.
"""

from __future__ import annotations

import hashlib

SAMPLE_TAG = b"race/v1/sample"


def _draw(seed: bytes, step: int) -> int:
    return int.from_bytes(hashlib.sha256(seed + step.to_bytes(4, "big")).digest(), "big")


def sample_seed(beacon_output: bytes, cycle: int, operator: str) -> bytes:
    """The per-node seed: H(tag || output || cycle (8 bytes) || len(operator) || operator)."""
    name = operator.encode()
    return hashlib.sha256(SAMPLE_TAG + beacon_output + cycle.to_bytes(8, "big")
                          + len(name).to_bytes(2, "big") + name).digest()


def sample_ranks(beacon_output: bytes, cycle: int, operator: str, count: int,
                 sample_size: int) -> tuple[int, ...]:
    """The ranks ``operator`` must open in ``cycle``, in draw order: ``min(sample_size,
    count)`` distinct values in ``0..count-1`` (every rank when ``count <= sample_size``)."""
    if count < 0 or sample_size < 0:
        raise ValueError("count and sample_size must not be negative")
    seed = sample_seed(beacon_output, cycle, operator)
    taken = min(sample_size, count)
    moved: dict[int, int] = {}
    ranks: list[int] = []
    for step in range(taken):
        pick = step + _draw(seed, step) % (count - step)
        chosen = moved.get(pick, pick)
        moved[pick] = moved.get(step, step)
        ranks.append(chosen)
    return tuple(ranks)
