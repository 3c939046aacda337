"""The agent's view of its sidecar: a health check every few seconds, backing off while down.

Without a sidecar (no ``--sidecar``) the agent still runs its chain duties and reports
that none is configured. While the sidecar is unreachable, checks back off exponentially
(capped) so a dead sidecar costs little; the first good answer restores the normal pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from race_node.client.backoff import Backoff
from race_node.client.sidecar import SidecarClient, SidecarError

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 30.0


@dataclass
class SidecarState:
    """The last health check's outcome."""

    healthy: bool = False
    models: list[str] = field(default_factory=list)
    race_engine: bool = False
    error: str | None = None
    checked_at: float | None = None


class SidecarMonitor:
    """Checks ``client`` every ``interval_s`` seconds (backing off while it fails)."""

    def __init__(self, client: SidecarClient | None, interval_s: float = 5.0,
                 backoff: Backoff | None = None) -> None:
        self.client = client
        self.interval_s = interval_s
        self.backoff = backoff or Backoff(initial=1.0, maximum=max(interval_s, 10.0))
        self.state = SidecarState(
            error=None if client is not None else "no sidecar configured (--sidecar)")

    async def check(self) -> SidecarState:
        """One health check; updates and returns :attr:`state`."""
        if self.client is None:
            return self.state
        was_healthy, first = self.state.healthy, self.state.checked_at is None
        try:
            health = await self.client.health()
        except SidecarError as exc:
            self.state = SidecarState(error=str(exc), checked_at=time.time())
            if was_healthy or first:
                log.warning("sidecar %s is unhealthy: %s", self.client.address, exc)
            return self.state
        self.state = SidecarState(
            healthy=health.healthy, models=health.models,
            race_engine=health.race_engine is not None,
            error=None if health.healthy else "the sidecar is draining or a model is unhealthy",
            checked_at=time.time())
        if self.state.healthy and not was_healthy:
            log.info("sidecar %s is healthy (models: %s)", self.client.address,
                     ", ".join(health.models) or "none")
        return self.state

    async def run(self, stop: asyncio.Event) -> None:
        """Check until ``stop`` is set."""
        if self.client is None:
            return
        while not stop.is_set():
            # A check that hangs or fails in an unexpected way (a channel closed under it
            # by another caller redialling) is a failed check, never the end of the
            # monitor: the agent's status would report a stale verdict for good. A hung
            # check is abandoned, not awaited: cancelling a gRPC call whose channel is
            # being replaced may itself never finish.
            check = asyncio.ensure_future(self.check())
            done, _ = await asyncio.wait({check}, timeout=CHECK_TIMEOUT_S)
            if not done:
                check.cancel()
                state = self.state = SidecarState(
                    error=f"health check hung for {CHECK_TIMEOUT_S:.0f} s",
                    checked_at=time.time())
            elif check.exception() is not None:
                state = self.state = SidecarState(
                    error=f"health check failed: {check.exception()!r}",
                    checked_at=time.time())
            else:
                state = check.result()
            if state.healthy:
                self.backoff.reset()
                delay = self.interval_s
            else:
                delay = self.backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def as_status(self) -> dict[str, Any]:
        return {
            "configured": self.client is not None,
            "address": None if self.client is None else self.client.address,
            "healthy": self.state.healthy,
            "models": list(self.state.models),
            "race_engine": self.state.race_engine,
            "error": self.state.error,
            "checked_at": self.state.checked_at,
        }
