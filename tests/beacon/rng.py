"""Deterministic byte sources for the beacon tests (never for real keys)."""

from __future__ import annotations

import random
from collections.abc import Callable


def seeded(seed: int) -> Callable[[int], bytes]:
    """``n -> n bytes`` from a seeded generator, so a test deals the same way every run."""
    return random.Random(seed).randbytes
