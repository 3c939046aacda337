"""The module framework: each chain capability is a module; the registry runs them in a fixed order.

See docs/modules.md for the contract. The ABCI adapter (abci_app/app.py) makes no
decisions itself: it routes each message to the module that registered its type URL
and runs every module's hooks in :data:`INSTALLED_MODULES` order (consensus order).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import Table

from abci_app.modules.context import BlockInfo, Context, Event
from abci_app.modules.errors import BAD_QUERY, UNKNOWN_QUERY_PATH, ChainError, ErrorCode

# Consensus order of genesis import and block hooks. A listed package that does not exist
# yet is skipped, so later modules join by creating abci_app/modules/<name>/.
INSTALLED_MODULES: tuple[str, ...] = (
    "auth",
    "bank",
    "staking",
    "epochs",
    "pricing",
    "models",
    "gov",
)

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
    """Base class of every module. Override what the module needs; defaults do nothing."""

    name: str = ""
    tables: tuple[Table, ...] = ()
    params_type: type | None = None
    msg_routes: tuple[MsgRoute, ...] = ()
    query_routes: tuple[QueryRoute, ...] = ()
    # (event type, attribute key) pairs CometBFT should index for tx_search.
    indexed_events: tuple[tuple[str, str], ...] = ()

    def validate_params(self, params: Any) -> None:
        """Raise an ErrorCode's ChainError when ``params`` is not acceptable."""

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """Import the module's ``app_state[name]`` section at InitChain."""

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """The module's state as a genesis section (round-trips with init_genesis)."""
        return {}

    def begin_block(self, ctx: Context) -> None:
        """Start of FinalizeBlock, before the block's txs."""

    def end_block(self, ctx: Context) -> None:
        """End of FinalizeBlock, after the block's txs."""

    def end_epoch(self, ctx: Context, epoch: int) -> None:
        """End of an epoch (the epochs module calls registry.run_end_epoch)."""

    def check_invariants(self, ctx: Context) -> list[str]:
        """Descriptions of broken invariants (empty when all hold)."""
        return []


class ModuleRegistry:
    """The installed modules in consensus order, with their message and query routes."""

    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules: tuple[Module, ...] = tuple(modules)
        self._by_name: dict[str, Module] = {}
        self._routes: dict[str, tuple[Module, MsgRoute]] = {}
        self._queries: dict[tuple[str, str], QueryHandler] = {}
        # The app's own tx event: who signed (docs/modules.md §8).
        indexed = {("tx", "signer")}
        tables: dict[str, str] = {}
        for module in self.modules:
            if not module.name or module.name in self._by_name:
                raise ValueError(f"module name {module.name!r} is empty or taken")
            self._by_name[module.name] = module
            for table in module.tables:
                if table.name in tables:
                    raise ValueError(f"table {table.name} claimed by {tables[table.name]}")
                tables[table.name] = module.name
            for route in module.msg_routes:
                if route.type_url in self._routes:
                    raise ValueError(f"{route.type_url} routed twice")
                self._routes[route.type_url] = (module, route)
            for query in module.query_routes:
                self._queries[(module.name, query.name)] = query.handler
            indexed.update(module.indexed_events)
        self.indexed_attributes: frozenset[tuple[str, str]] = frozenset(indexed)

    def module(self, name: str) -> Module:
        """The module called ``name`` (KeyError if not installed)."""
        return self._by_name[name]

    def names(self) -> list[str]:
        """Installed module names in consensus order."""
        return [m.name for m in self.modules]

    def route(self, type_url: str) -> tuple[Module, MsgRoute] | None:
        """Who handles a message type URL, or None."""
        return self._routes.get(type_url)

    def module_of(self, type_url: str) -> str:
        """Name of the module that handles a routed type URL."""
        return self._routes[type_url][0].name

    def type_urls(self) -> list[str]:
        """Every routable message type URL, sorted."""
        return sorted(self._routes)

    def init_genesis(self, ctx: Context, app_state: dict[str, Any]) -> None:
        """Import every module's section of genesis app_state (params first).

        Every module's params are written at genesis (defaults where the section has
        none), so an exported genesis re-imports to the same state and app hash.
        """
        from abci_app.modules.params import set_params

        unknown = sorted(set(app_state) - set(self._by_name))
        if unknown:
            raise BAD_QUERY(f"app_state has sections for unknown modules {unknown}")
        for module in self.modules:
            section = app_state.get(module.name) or {}
            if module.params_type is not None:
                set_params(ctx, module.name, section.get("params") or {})
            module.init_genesis(ctx, section)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """Every module's genesis section, keyed by module name."""
        from abci_app.modules.params import get_params, params_to_json

        out: dict[str, Any] = {}
        for module in self.modules:
            section = dict(module.export_genesis(ctx))
            if module.params_type is not None:
                section["params"] = json.loads(params_to_json(get_params(ctx, module.name)))
            out[module.name] = section
        return out

    def begin_block(self, ctx: Context) -> None:
        for module in self.modules:
            module.begin_block(ctx)

    def end_block(self, ctx: Context) -> None:
        for module in self.modules:
            module.end_block(ctx)

    def run_end_epoch(self, ctx: Context, epoch: int) -> None:
        """Run every module's end-of-epoch hook in consensus order."""
        for module in self.modules:
            module.end_epoch(ctx, epoch)

    def check_invariants(self, ctx: Context) -> list[str]:
        """All broken invariants across modules, each prefixed by its module."""
        broken: list[str] = []
        for module in self.modules:
            broken.extend(f"{module.name}: {msg}" for msg in module.check_invariants(ctx))
        return broken

    def query(self, ctx: Context, path: str, data: bytes) -> Any:
        """Answer ``/<module>/<route>/<args...>`` with a JSON-ready value."""
        from abci_app.modules.params import get_params, params_to_json

        parts = [p for p in path.split("/") if p]
        if len(parts) < 2:
            raise UNKNOWN_QUERY_PATH(f"{path!r}: use /<module>/<route>[/args]")
        module_name, route, args = parts[0], parts[1], parts[2:]
        if module_name not in self._by_name:
            raise UNKNOWN_QUERY_PATH(f"{path!r}: no module {module_name!r}; have {self.names()}")
        if route == "params" and self._by_name[module_name].params_type is not None:
            return json.loads(params_to_json(get_params(ctx, module_name)))
        handler = self._queries.get((module_name, route))
        if handler is None:
            known = sorted(r for m, r in self._queries if m == module_name)
            raise UNKNOWN_QUERY_PATH(f"{path!r}: {module_name} answers {known}")
        return handler(ctx, args, data)


def load_modules(names: Iterable[str] = INSTALLED_MODULES) -> ModuleRegistry:
    """Import each installed module package and collect its ``MODULE``.

    Call this before opening a :class:`~abci_app.store.CommittedState`: importing a
    module declares its tables, and the store creates every declared table.
    """
    importlib.import_module(f"{__name__}.params")  # declares the shared params table
    found: list[Module] = []
    for name in names:
        package = f"{__name__}.{name}"
        try:
            imported = importlib.import_module(package)
        except ModuleNotFoundError as missing:
            if missing.name == package:
                continue
            raise
        found.append(imported.MODULE)
    return ModuleRegistry(found)


__all__ = [
    "INSTALLED_MODULES",
    "BlockInfo",
    "ChainError",
    "Context",
    "ErrorCode",
    "Event",
    "Module",
    "ModuleRegistry",
    "MsgRoute",
    "QueryRoute",
    "load_modules",
    "type_url_of",
]
