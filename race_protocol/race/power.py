"""From accepted counts to validator power (docs/race.md, "Weights become power").

Whitepaper section 4: voting weight is proportional to the valid proofs a node presented
in the Race. Two integer adjustments make that safe for CometBFT:

* **A cap on any one node's share** (``max_power_share_ppm``, below one third: a node
  holding a third of the power can stop consensus on its own). Water-filling: the
  largest counts are lowered to one common level ``L``, the largest level at which each of
  them holds at most the cap of the new total; nobody else changes and nothing is handed
  out. Lowering the top raises everyone else's share. With ``m`` nodes at the level and
  ``R`` the sum of the others, ``L = floor(cap * R / (10^6 - m * cap))``. When fewer than
  ``10^6 / cap`` nodes are accepted no level works (three nodes cannot each hold at most
  30%); every node then gets the smallest accepted count, equal shares.
* **CometBFT's limit on the total** (``MaxInt64 / 8``): if the total passes it, every
  power is scaled down by the same factor (floor, at least 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

PPM = 1_000_000
K = TypeVar("K", str, bytes)


def capped_powers(counts: Mapping[K, int], cap_ppm: int) -> dict[K, int]:
    """Each key's power: its count, lowered by water-filling so no key holds more than
    ``cap_ppm`` of the total (see the module docstring). Keys with a count of 0 are left
    out. Deterministic: ties are broken by key."""
    if not 0 < cap_ppm <= PPM:
        raise ValueError(f"cap_ppm must be in 1..{PPM}, got {cap_ppm}")
    ranked = sorted(((count, key) for key, count in counts.items() if count > 0),
                    key=lambda item: (-item[0], item[1]))
    if not ranked:
        return {}
    rest = sum(count for count, _ in ranked)
    if ranked[0][0] * PPM <= cap_ppm * rest:
        return {key: count for count, key in ranked}
    for lowered in range(1, len(ranked)):
        rest -= ranked[lowered - 1][0]
        if lowered * cap_ppm >= PPM:
            break
        level = cap_ppm * rest // (PPM - lowered * cap_ppm)
        if level >= ranked[lowered][0]:
            return {key: min(count, level) for count, key in ranked}
    smallest = ranked[-1][0]
    return {key: smallest for _, key in ranked}


def scale_to_limit(powers: Mapping[K, int], limit: int) -> dict[K, int]:
    """``powers`` unchanged when their total is at most ``limit``; otherwise each scaled by
    ``limit / total`` (floor, at least 1), so the total stays within ``limit``."""
    total = sum(powers.values())
    if total <= limit:
        return dict(powers)
    room = limit - len(powers)
    return {key: max(1, power * room // total) for key, power in powers.items()}
