"""Module params: stored in consensus state, read per module, changed by governance.

Each module declares a frozen dataclass of ``int``/``str``/``bool`` fields with defaults.
Params live in the ``params`` table (one JSON row per module), so they are covered by
the app hash; a gov param-change proposal calls :func:`set_params` when it passes.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, String, Table

from abci_app.store.schema import METADATA
from race_protocol.errors import ErrorCode
from race_protocol.integers import is_decimal

if TYPE_CHECKING:
    from abci_app.core.context import Context

PARAMS = Table(
    "params",
    METADATA,
    Column("module", String, primary_key=True),
    Column("value", String, nullable=False),
)

UNKNOWN_MODULE = ErrorCode("params", 10, "unknown module")
UNKNOWN_PARAM = ErrorCode("params", 11, "unknown param")
BAD_PARAM_VALUE = ErrorCode("params", 12, "invalid param value")

_ALLOWED_TYPES = {int: "int", str: "str", bool: "bool"}


def params_to_json(params: Any) -> str:
    """Canonical JSON of a params dataclass (sorted keys, no spaces)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=256)
def _decode(params_type: type, text: str) -> Any:
    # A pure function of (type, text): caching it is deterministic.
    return params_type(**json.loads(text))


def _field_types(params_type: type) -> dict[str, type]:
    hints = typing.get_type_hints(params_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(params_type)}


def coerce_changes(params_type: type, changes: dict[str, Any], module: str) -> dict[str, Any]:
    """Check names and types of proposed changes; ints may come as decimal strings (JSON).

    A decimal string is ASCII digits only (race_protocol.integers): which other scripts'
    digits Python accepts depends on its Unicode version, and nodes must agree.
    """
    types = _field_types(params_type)
    out: dict[str, Any] = {}
    for name in sorted(changes):
        value = changes[name]
        if name not in types:
            raise UNKNOWN_PARAM(f"{module} has no param {name!r}; known: {sorted(types)}")
        want = types[name]
        if want is int and isinstance(value, str) and is_decimal(value):
            value = int(value, 10)
        if want is bool and not isinstance(value, bool):
            raise BAD_PARAM_VALUE(f"{module}.{name} must be true or false, got {value!r}")
        if want is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise BAD_PARAM_VALUE(f"{module}.{name} must be an integer, got {value!r}")
        if want is str and not isinstance(value, str):
            raise BAD_PARAM_VALUE(f"{module}.{name} must be a string, got {value!r}")
        out[name] = value
    return out


def get_params(ctx: Context, module: str) -> Any:
    """The module's params: stored values, or the dataclass defaults before any write."""
    mod = ctx.registry.module(module)
    if mod.params_type is None:
        raise UNKNOWN_MODULE(f"{module} has no params")
    row = ctx.state.get(PARAMS, (module,))  # read-only peek; no copy needed
    if row is None:
        return mod.params_type()
    return _decode(mod.params_type, row["value"])


def set_params(ctx: Context, module: str, changes: dict[str, Any]) -> Any:
    """Apply a param change after validating every field; returns the new params.

    This is the entry point for governance param-change proposals and genesis. Outside
    genesis the module's state-dependent bounds apply too (at genesis other modules'
    sections, the supply among them, are not imported yet).
    """
    try:
        mod = ctx.registry.module(module)
    except KeyError:
        raise UNKNOWN_MODULE(f"no module named {module!r}") from None
    if mod.params_type is None:
        raise UNKNOWN_MODULE(f"{module} has no params")
    current = get_params(ctx, module)
    updated = dataclasses.replace(current, **coerce_changes(mod.params_type, changes, module))
    mod.validate_params(updated)
    if ctx.mode != "genesis":
        mod.validate_params_in_state(ctx, updated)
    ctx.table(PARAMS).put(module, {"value": params_to_json(updated)})
    ctx.emit("params_changed", module=module, params=params_to_json(updated))
    return updated
