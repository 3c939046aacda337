"""What a module handler sees: the block, the signer, its tables, params and an event sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table

from abci_app.store.overlay import Overlay, TableView

if TYPE_CHECKING:
    from abci_app.core.registry import ModuleRegistry

MODES = ("genesis", "check", "recheck", "finalize", "query")


@dataclass(frozen=True)
class BlockInfo:
    """The block being executed, from its header (DESIGN.md §3: block time, never the clock)."""

    height: int
    time_ns: int
    chain_id: str
    proposer_address: bytes = b""
    hash: bytes = b""


@dataclass
class Event:
    """An ABCI event: a type and string attributes, indexed by CometBFT."""

    type: str
    attributes: list[tuple[str, str]] = field(default_factory=list)


class Context:
    """The handle every message handler, query and hook receives."""

    __slots__ = ("mode", "block", "state", "registry", "events", "signer", "tx_hash",
                 "proposal_id", "_views")

    def __init__(
        self,
        mode: str,
        block: BlockInfo,
        state: Overlay,
        registry: ModuleRegistry,
        signer: str | None = None,
        tx_hash: bytes | None = None,
        proposal_id: int = 0,
    ) -> None:
        self.mode = mode
        self.block = block
        self.state = state
        self.registry = registry
        self.events: list[Event] = []
        self.signer = signer
        self.tx_hash = tx_hash
        # Set while a passed governance proposal executes its messages (0 otherwise).
        self.proposal_id = proposal_id
        self._views: dict[Table, TableView] = {}

    def table(self, table: Table) -> TableView:
        """A view of one of the calling module's tables through this context's overlay."""
        view = self._views.get(table)
        if view is None:
            view = self._views[table] = TableView(self.state, table)
        return view

    def emit(self, event_type: str, **attributes: Any) -> None:
        """Record an event; values are stringified (ints in base units, addresses bech32).

        CheckTx results carry no events, so in check modes nothing is recorded.
        """
        if self.mode == "check" or self.mode == "recheck":
            return
        self.events.append(Event(event_type, [(k, _text(v)) for k, v in attributes.items()]))

    def params(self, module: str) -> Any:
        """The module's current params dataclass."""
        return self.registry.params(self, module)

    def branch(self, signer: str | None = None, tx_hash: bytes | None = None,
               proposal_id: int | None = None) -> Context:
        """A child context whose writes and events are kept only if :meth:`merge` is called."""
        return Context(
            self.mode,
            self.block,
            self.state.child(),
            self.registry,
            signer if signer is not None else self.signer,
            tx_hash if tx_hash is not None else self.tx_hash,
            proposal_id if proposal_id is not None else self.proposal_id,
        )

    def merge(self, child: Context) -> None:
        """Keep a branch's writes and events."""
        child.state.merge_into_parent()
        self.events.extend(child.events)

    @property
    def is_check(self) -> bool:
        """True in CheckTx (new or recheck): writes go to the mempool's throwaway state."""
        return self.mode in ("check", "recheck")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex().upper()
    return str(value)
