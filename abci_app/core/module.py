"""The module contract: each chain capability is a module with tables, params, messages,
queries and block hooks (docs/modules.md, "The module contract").

A module never runs by itself: :mod:`abci_app.wiring` lists the installed modules, the
order of their block hooks and who subscribes to which hook between modules, and the
registry (:mod:`abci_app.core.registry`) routes messages and queries to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import Table

from abci_app.core.context import Context

ValidateBasic = Callable[[Any], None]
MsgHandler = Callable[[Context, Any], None]
QueryHandler = Callable[[Context, list[str], bytes], Any]


def type_url_of(message_type: type[Message] | Message) -> str:
    """The ``Any`` type URL a message travels under: ``/`` + its full protobuf name."""
    return "/" + message_type.DESCRIPTOR.full_name


@dataclass(frozen=True)
class MsgRoute:
    """A message a module handles: its class, its stateless check, and its handler."""

    message_type: type[Message]
    validate_basic: ValidateBasic
    handler: MsgHandler

    @property
    def type_url(self) -> str:
        return type_url_of(self.message_type)


@dataclass(frozen=True)
class QueryRoute:
    """``/<module>/<name>/<args...>`` answered by ``handler(ctx, args, data)`` as JSON."""

    name: str
    handler: QueryHandler


class Module:
    """Base class of every module. Override what the module needs; defaults do nothing.

    Hooks between modules are plain methods here (``after_epoch_end``,
    ``after_proposal_submitted``, ``after_proposal_closed``); a module receives them only
    when :mod:`abci_app.wiring` subscribes it, in the order written there.
    """

    name: str = ""
    tables: tuple[Table, ...] = ()
    params_type: type | None = None
    msg_routes: tuple[MsgRoute, ...] = ()
    query_routes: tuple[QueryRoute, ...] = ()
    # (event type, attribute key) pairs CometBFT should index for tx_search.
    indexed_events: tuple[tuple[str, str], ...] = ()

    def validate_params(self, params: Any) -> None:
        """Raise an ErrorCode's ChainError when ``params`` is not acceptable."""

    def validate_params_in_state(self, ctx: Context, params: Any) -> None:
        """Bounds that depend on the state (an amount against the supply), checked when
        governance changes params (the proposal's dry run at submission and its execution);
        raise an ErrorCode's ChainError to refuse."""

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """Import the module's ``app_state[name]`` section at InitChain."""

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """The module's state as a genesis section (round-trips with init_genesis)."""
        return {}

    def begin_block(self, ctx: Context) -> None:
        """Start of FinalizeBlock, before the block's txs."""

    def end_block(self, ctx: Context) -> None:
        """End of FinalizeBlock, after the block's txs."""

    def check_invariants(self, ctx: Context) -> list[str]:
        """Descriptions of broken invariants (empty when all hold)."""
        return []
