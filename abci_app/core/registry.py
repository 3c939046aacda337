"""The installed modules in consensus order, with their message and query routes and hooks.

Built once by :func:`abci_app.wiring.build_registry`. The ABCI adapter makes no decisions
itself: it routes each message to the module that registered its type URL and runs the
block hooks in the order the wiring gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY, UNKNOWN_QUERY_PATH
from abci_app.core.hooks import Hooks
from abci_app.core.module import Module, MsgRoute, QueryHandler
from abci_app.core.params import get_params, params_to_json, set_params


class ModuleRegistry:
    """The installed modules in consensus order, with their message and query routes."""

    def __init__(self, modules: Iterable[Module], hooks: Hooks | None = None,
                 end_block_order: Iterable[str] | None = None) -> None:
        self.modules: tuple[Module, ...] = tuple(modules)
        self.hooks = hooks if hooks is not None else Hooks()
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
        order = list(end_block_order) if end_block_order is not None else self.names()
        if sorted(order) != sorted(self.names()):
            raise ValueError(f"end-block order {order} must list every module {self.names()}")
        self._end_blockers = tuple(self._by_name[name] for name in order)

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

    def params(self, ctx: Context, module: str) -> Any:
        """A module's current params (what ``ctx.params(module)`` returns)."""
        return get_params(ctx, module)

    def init_genesis(self, ctx: Context, app_state: dict[str, Any]) -> None:
        """Import every module's section of genesis app_state (params first).

        Every module's params are written at genesis (defaults where the section has
        none), so an exported genesis re-imports to the same state and app hash.
        """
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
        out: dict[str, Any] = {}
        for module in self.modules:
            section = dict(module.export_genesis(ctx))
            if module.params_type is not None:
                section["params"] = json.loads(params_to_json(get_params(ctx, module.name)))
            out[module.name] = section
        return out

    def begin_block(self, ctx: Context) -> None:
        """Every module's ``begin_block``, in installation order."""
        for module in self.modules:
            module.begin_block(ctx)

    def end_block(self, ctx: Context) -> None:
        """Every module's ``end_block``, in the wiring's end-block order."""
        for module in self._end_blockers:
            module.end_block(ctx)

    def check_invariants(self, ctx: Context, modules: Iterable[str] | None = None) -> list[str]:
        """Broken invariants of ``modules`` (default all), each prefixed by its module."""
        chosen = set(self.names() if modules is None else modules)
        broken: list[str] = []
        for module in self.modules:
            if module.name not in chosen:
                continue
            broken.extend(f"{module.name}: {msg}" for msg in module.check_invariants(ctx))
        return broken

    def query(self, ctx: Context, path: str, data: bytes) -> Any:
        """Answer ``/<module>/<route>/<args...>`` with a JSON-ready value."""
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
