"""Duties: small handlers registered on the agent, "on each block" or "on this event, do this".

A height's events come from ``block_results``: each tx's events (with the tx's hash, index
and result code) in block order, then the block's own FinalizeBlock events. Handlers are
async and must be idempotent for a height: after a crash the agent runs the unfinished
height again. Submitting through :meth:`AgentServices.submit_once` with a key naming the
height (``"heartbeat/120"``) is what makes that safe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import Message

from race_node.client.broadcast import Submission
from race_node.client.rpc import BlockResults, CometRPC
from race_node.client.sidecar import SidecarClient


@dataclass(frozen=True)
class ChainEvent:
    """One ABCI event of a committed block, its attributes as a mapping."""

    type: str
    attributes: Mapping[str, str]
    # Which tx emitted it (index in the block, hash, result code); None for block events.
    tx_index: int | None = None
    tx_hash: str | None = None
    tx_code: int = 0


def block_events(results: BlockResults, tx_hashes: Sequence[str]) -> tuple[ChainEvent, ...]:
    """Every event of a block: the txs' in block order, then the block's own."""
    events: list[ChainEvent] = []
    for index, outcome in enumerate(results.txs):
        tx_hash = tx_hashes[index] if index < len(tx_hashes) else None
        events.extend(ChainEvent(e.get("type", ""), _attributes(e), index, tx_hash,
                                 outcome.code) for e in outcome.events)
    events.extend(ChainEvent(e.get("type", ""), _attributes(e))
                  for e in results.finalize_block_events)
    return tuple(events)


def _attributes(event: dict[str, Any]) -> dict[str, str]:
    return {str(a.get("key", "")): str(a.get("value", ""))
            for a in event.get("attributes") or []}


class AgentServices(Protocol):
    """What a duty may use: the operator's identity, the broadcast path, the sidecar, RPC."""

    @property
    def operator_address(self) -> str: ...

    @property
    def rpc(self) -> CometRPC: ...

    @property
    def sidecar(self) -> SidecarClient | None: ...

    async def submit_once(self, key: str, messages: Sequence[Message],
                          memo: str = "") -> Submission: ...


@dataclass(frozen=True)
class BlockContext:
    """One committed height as a duty sees it."""

    height: int
    events: tuple[ChainEvent, ...]
    agent: AgentServices

    def of_type(self, event_type: str) -> list[ChainEvent]:
        return [e for e in self.events if e.type == event_type]


BlockHandler = Callable[[BlockContext], Awaitable[None]]
EventHandler = Callable[[BlockContext, ChainEvent], Awaitable[None]]


@dataclass
class DutyStats:
    """How a duty has fared, for the status endpoint."""

    runs: int = 0
    failures: int = 0
    last_height: int | None = None
    last_error: str | None = None


@dataclass
class Duty:
    """A registered handler: on every block, or on each event of one type."""

    name: str
    handler: BlockHandler | EventHandler
    event_type: str | None = None
    stats: DutyStats = field(default_factory=DutyStats)

    @property
    def trigger(self) -> str:
        return "block" if self.event_type is None else f"event:{self.event_type}"

    async def run(self, context: BlockContext) -> bool:
        """Run for one height; False when the height has nothing for this duty."""
        if self.event_type is None:
            await self.handler(context)  # type: ignore[call-arg]
            return True
        matching = context.of_type(self.event_type)
        for event in matching:
            await self.handler(context, event)  # type: ignore[call-arg]
        return bool(matching)

    def as_status(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger, "runs": self.stats.runs,
                "failures": self.stats.failures, "last_height": self.stats.last_height,
                "last_error": self.stats.last_error}
