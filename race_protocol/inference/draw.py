"""The executor draw: one request's executor, drawn by voting weight among the providers
serving its model, from a beacon output and the request id (DESIGN.md section 7.2).

The draw is a pure function of public data: the beacon output of the round named in the
ticket, the request id, the attempt number, and the providers serving the model with
their voting weights. Anyone holding a ticket can recompute it; the executor does before
it runs a request. Integers only: a provider's chance is its weight over the total.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

DRAW_DOMAIN = b"race/v1/inference/executor-draw\x00"


def draw_seed(beacon_output: bytes, request_id: bytes, attempt: int) -> bytes:
    """SHA-256 of the domain, the beacon output, the request id and the attempt."""
    if not 0 <= attempt < 2**32:
        raise ValueError(f"attempt must fit 32 bits, got {attempt}")
    return hashlib.sha256(DRAW_DOMAIN + beacon_output + request_id
                          + attempt.to_bytes(4, "big")).digest()


def draw_executor(seed: bytes, candidates: Sequence[tuple[str, int]]) -> str | None:
    """The drawn provider: the 256-bit seed reduced modulo the total weight picks a point
    on the candidates laid end to end in address order, each as long as its weight.

    Candidates with no weight are never drawn; None when no candidate has weight. The
    modulo bias is below total / 2^256, far under anything a statistical test could see.
    """
    weighted = sorted((address, weight) for address, weight in candidates if weight > 0)
    total = sum(weight for _, weight in weighted)
    if total == 0:
        return None
    point = int.from_bytes(seed, "big") % total
    for address, weight in weighted:
        if point < weight:
            return address
        point -= weight
    raise AssertionError("unreachable: the point is below the total weight")
