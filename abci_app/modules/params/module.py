"""The params module: ``MsgUpdateParams``, the one message that changes chain params.

Every module declares its params as a frozen dataclass (:mod:`abci_app.core.params`); this
module only carries out a change, and only when the gov module account signs it, that is
when a proposal carrying it passes. A change names modules and keys; all of it applies
or none (each module's ``validate_params`` sees the whole new set).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute
from abci_app.core.params import set_params
from abci_app.modules.params.errors import GOVERNANCE_ONLY, INVALID_CHANGE
from race_protocol.gen.race.v1 import params_pb2

MAX_PARAM_CHANGES = 32


def validate_basic_update_params(msg: params_pb2.MsgUpdateParams) -> None:
    """At least one change, at most :data:`MAX_PARAM_CHANGES`, each key named once."""
    if not msg.changes:
        raise INVALID_CHANGE("a param change needs at least one change")
    if len(msg.changes) > MAX_PARAM_CHANGES:
        raise INVALID_CHANGE(f"at most {MAX_PARAM_CHANGES} param changes per message")
    seen: set[tuple[str, str]] = set()
    for change in msg.changes:
        if not change.module or not change.key:
            raise INVALID_CHANGE("every param change names a module and a key")
        if (change.module, change.key) in seen:
            raise INVALID_CHANGE(f"{change.module}.{change.key} is changed twice")
        seen.add((change.module, change.key))


def _typed_values(params_type: type | None, changes: dict[str, str]) -> dict[str, Any]:
    """A change's text as the param's type: "true"/"false" (ASCII, any case) for booleans;
    integers and strings go to the params framework as written (it parses ASCII decimal
    integers)."""
    if params_type is None:
        return dict(changes)
    booleans = {f.name for f in dataclasses.fields(params_type) if f.type in (bool, "bool")}
    typed: dict[str, Any] = {}
    for key, value in changes.items():
        if key in booleans and value.isascii() and value.lower() in ("true", "false"):
            typed[key] = value.lower() == "true"
        else:
            typed[key] = value
    return typed


def handle_update_params(ctx: Context, msg: params_pb2.MsgUpdateParams) -> None:
    """Apply every change, module by module in name order; refused unless gov signs."""
    if ctx.signer != governance_authority() or msg.authority != governance_authority():
        raise GOVERNANCE_ONLY(
            "submit a param change proposal with `race gov propose param MODULE.KEY=VALUE`"
        )
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for change in msg.changes:
        grouped[change.module][change.key] = change.value
    for module in sorted(grouped):
        try:
            params_type = ctx.registry.module(module).params_type
        except KeyError:
            raise INVALID_CHANGE(
                f"no module {module!r}; modules: {', '.join(ctx.registry.names())}"
            ) from None
        set_params(ctx, module, _typed_values(params_type, grouped[module]))


class ParamsModule(Module):
    """Routes ``race.v1.MsgUpdateParams``; the params themselves belong to each module."""

    name = "params"
    msg_routes = (
        MsgRoute(params_pb2.MsgUpdateParams, validate_basic_update_params,
                 handle_update_params),
    )


MODULE = ParamsModule()
