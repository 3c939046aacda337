"""Exponential backoff with jitter, for every client that reconnects to a node or sidecar.

A client that lost its peer retries after ``initial`` seconds, doubling up to ``maximum``,
each delay shortened by a random fraction so that many agents restarted together do not
reconnect in lock step. A success resets the delay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """The delay before the next attempt; :meth:`reset` after a success."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2
    _current: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self._current = self.initial

    def next_delay(self) -> float:
        """The delay to wait now; the one after it is ``factor`` times longer (capped)."""
        delay = self._current * (1 - self.jitter * random.random())
        self._current = min(self._current * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._current = self.initial
