"""Module params for a new chain's genesis: ``[params.<module>]`` tables and ``--param`` flags.

A localnet (and ``race init``) may start with other chain params than the defaults, e.g.
short epochs and governance periods for a demo. Values come from TOML (already typed) or
from ``module.key=value`` strings (typed here by the module's params dataclass). Before
anything is written, the whole set goes through the same genesis import the app runs at
InitChain (:func:`abci_app.genesis.validate_app_state`): an unknown module or key, or a
value the module refuses, is an error that names it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from abci_app.genesis import GenesisError, build_app_state, validate_app_state
from abci_app.modules.bank.denom import parse_amount
from abci_app.wiring import build_registry

GenesisParams = dict[str, dict[str, Any]]


class GenesisParamsError(ValueError):
    """A genesis param names an unknown module or key, or has a value the chain refuses."""


def param_fields(module: str) -> dict[str, type]:
    """The params of ``module`` and their types (int, str or bool), from its dataclass."""
    registry = build_registry()
    try:
        params_type = registry.module(module).params_type
    except KeyError:
        raise GenesisParamsError(
            f"no module {module!r}; modules with params: {modules_with_params()}") from None
    if params_type is None:
        raise GenesisParamsError(
            f"module {module!r} has no params; modules with params: {modules_with_params()}")
    types: dict[str, type] = {"int": int, "str": str, "bool": bool}
    resolved: dict[str, type] = {}
    for field in dataclasses.fields(params_type):
        hint: Any = field.type  # a string under ``from __future__ import annotations``
        known = types.get(hint) if isinstance(hint, str) else None
        resolved[field.name] = known if known is not None else hint
    return resolved


def modules_with_params() -> list[str]:
    registry = build_registry()
    return [name for name in registry.names() if registry.module(name).params_type is not None]


def _typed(module: str, key: str, value: Any, want: type) -> Any:
    """``value`` as the param's type; strings are parsed (amounts allowed for ``*_nicoin``)."""
    name = f"{module}.{key}"
    if want is bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, bool):
            return value
        raise GenesisParamsError(f"{name} must be true or false, got {value!r}")
    if want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip().replace("_", "")
            if text.lstrip("-").isdigit():
                return int(text)
            if key.endswith("_nicoin"):
                try:
                    return int(parse_amount(text))
                except Exception as exc:  # the bank module's own error type for bad amounts
                    raise GenesisParamsError(
                        f"{name} must be an integer of nicoin or an amount such as 100icoin, "
                        f"got {value!r}: {exc}") from None
        raise GenesisParamsError(f"{name} must be an integer, got {value!r}")
    if want is str:
        if isinstance(value, str):
            return value
        raise GenesisParamsError(f"{name} must be a string, got {value!r}")
    raise GenesisParamsError(f"{name} has an unsupported type {want!r}")


def normalize_params(params: Mapping[str, Any]) -> GenesisParams:
    """Check module and key names and type every value; modules and keys come out sorted."""
    out: GenesisParams = {}
    for module in sorted(params):
        table = params[module]
        if not isinstance(table, Mapping):
            raise GenesisParamsError(f"params for {module!r} must be a table of key = value, "
                                     f"got {table!r}")
        fields = param_fields(module)
        typed: dict[str, Any] = {}
        for key in sorted(table):
            if key not in fields:
                raise GenesisParamsError(f"module {module!r} has no param {key!r}; "
                                         f"known: {', '.join(sorted(fields))}")
            typed[key] = _typed(module, key, table[key], fields[key])
        if typed:
            out[module] = typed
    return out


def split_param_assignment(assignment: str) -> tuple[str, str, str] | None:
    """One ``module.key=value`` string as stripped (module, key, value), or None when malformed.

    The one parser of this syntax: ``--param`` at genesis and ``race gov propose param``.
    """
    target, sep, value = assignment.partition("=")
    module, dot, key = target.partition(".")
    module, key, value = module.strip(), key.strip(), value.strip()
    if not sep or not dot or not module or not key or not value:
        return None
    return module, key, value


def parse_param_assignments(assignments: Iterable[str]) -> GenesisParams:
    """``module.key=value`` strings (``--param``) as a params mapping; later ones win."""
    raw: dict[str, dict[str, str]] = {}
    for assignment in assignments:
        parts = split_param_assignment(assignment)
        if parts is None:
            raise GenesisParamsError(f"bad param {assignment!r}: write MODULE.KEY=VALUE, e.g. "
                                     "epochs.epoch_length_blocks=20")
        module, key, value = parts
        raw.setdefault(module, {})[key] = value
    return normalize_params(raw)


def merge_params(*layers: Mapping[str, Mapping[str, Any]] | None) -> GenesisParams:
    """Params from several sources, later layers overriding earlier ones key by key."""
    merged: GenesisParams = {}
    for layer in layers:
        for module, table in (layer or {}).items():
            merged.setdefault(module, {}).update(table)
    return {module: dict(sorted(table.items())) for module, table in sorted(merged.items())}


def check_genesis_params(params: Mapping[str, Any] | None) -> GenesisParams:
    """Typed, validated params, or GenesisParamsError; nothing is written either way.

    The params go through the chain's own genesis import in a throwaway store, so each
    module's rules (e.g. gov's ``min_initial_deposit_nicoin <= min_deposit_nicoin``) apply
    exactly as they will at InitChain.
    """
    normalized = normalize_params(params or {})
    if not normalized:
        return {}
    try:
        validate_app_state(build_app_state({}, params=normalized))
    except GenesisError as exc:
        raise GenesisParamsError(f"genesis params refused: {exc}") from None
    return normalized
