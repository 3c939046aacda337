"""The inference module: API keys, providers serving models, relays, and batched
settlement of tickets (whitepaper section 7; DESIGN.md section 7; docs/inference.md).

Its ``end_block`` refunds keys whose closing fell due and prunes the records of settled
tickets past their validity window, a bounded amount of work per block.
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.inference import (
    keeper,
    lifecycle,
    msgs,
    params,
    queries,
    settlement,
    tables,
)
from abci_app.modules.inference.errors import INVALID_GENESIS
from abci_app.modules.inference.keeper import ApiKeyEntry, RelayEntry, Serving
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.integers import integer_from_json


def _hex(value: Any, what: str, length: int) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise INVALID_GENESIS(f"{what} is not hex") from None
    if len(raw) != length:
        raise INVALID_GENESIS(f"{what} is {len(raw)} bytes, not {length}")
    return raw


def _int(item: dict[str, Any], name: str) -> int:
    try:
        value = integer_from_json(item.get(name, 0))
    except ValueError as bad:
        raise INVALID_GENESIS(f"{name}: {bad}") from None
    if value < 0:
        raise INVALID_GENESIS(f"{name} must not be negative")
    return value


def _address(value: Any, what: str) -> str:
    if not is_valid_address(str(value)):
        raise INVALID_GENESIS(f"{what} {value!r} is not a race1... address")
    return str(value)


def _list(section: dict[str, Any], name: str) -> list[dict[str, Any]]:
    entries = section.get(name) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise INVALID_GENESIS(f"{name} must be a list of objects")
    return entries


class InferenceModule(Module):
    """API keys in escrow, serving providers, relays, settlement."""

    name = "inference"
    tables = (tables.KEYS, tables.KEYS_BY_OWNER, tables.CLOSINGS, tables.PROVIDERS,
              tables.RELAYS, tables.SETTLED, tables.STATE)
    params_type = params.InferenceParams
    msg_routes = (
        MsgRoute(pb.MsgCreateApiKey, msgs.validate_basic_create_key, msgs.handle_create_key),
        MsgRoute(pb.MsgTopUpApiKey, msgs.validate_basic_top_up, msgs.handle_top_up),
        MsgRoute(pb.MsgRevokeApiKey, msgs.validate_basic_revoke, msgs.handle_revoke),
        MsgRoute(pb.MsgServeModel, msgs.validate_basic_serve, msgs.handle_serve),
        MsgRoute(pb.MsgStopServing, msgs.validate_basic_stop, msgs.handle_stop),
        MsgRoute(pb.MsgRegisterRelay, msgs.validate_basic_register_relay,
                 msgs.handle_register_relay),
        MsgRoute(pb.MsgDeregisterRelay, msgs.validate_basic_deregister_relay,
                 msgs.handle_deregister_relay),
        MsgRoute(pb.MsgSettleTickets, msgs.validate_basic_settle, msgs.handle_settle),
    )
    query_routes = (
        QueryRoute("key", queries.api_key),
        QueryRoute("keys", queries.api_keys),
        QueryRoute("models", queries.inference_models),
        QueryRoute("providers", queries.providers),
        QueryRoute("relay", queries.relay),
        QueryRoute("settled", queries.settled),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``relays``: ``[{"public_key", "owner"}]`` (hex key; genesis is agreed by every
        validator, so no proof of possession); ``providers``: ``[{"model", "provider",
        "endpoint"}]``; and, as :meth:`export_genesis` writes them, ``keys``, ``settled``
        and the cursors. Closings due before the chain starts fall due at its first block.
        """
        for name in keeper.CURSORS:
            keeper.set_state_value(ctx, name, _int(section, name))
        if not keeper.state_value(ctx, keeper.PRUNE_VALIDITY):
            keeper.set_state_value(ctx, keeper.PRUNE_VALIDITY,
                                   ctx.params("inference").ticket_validity_blocks)
        settled = _list(section, "settled")
        if settled:
            oldest = min(_int(s, "height") for s in settled)
            backlog = keeper.state_value(ctx, keeper.PRUNE_BACKLOG)
            keeper.set_state_value(ctx, keeper.PRUNE_BACKLOG,
                                   min(backlog, oldest) if backlog else oldest)
        first_block = ctx.block.height
        for item in sorted(_list(section, "relays"), key=lambda r: str(r.get("public_key"))):
            public_key = _hex(item.get("public_key", ""), "relay public_key", 32)
            if keeper.get_relay(ctx, public_key) is not None:
                raise INVALID_GENESIS(f"relay {public_key.hex()} is listed twice")
            keeper.put_relay(ctx, RelayEntry(public_key, _address(item.get("owner"), "owner"),
                                             _int(item, "registered_height")))
        for item in _list(section, "providers"):
            serving = Serving(str(item.get("model", "")),
                              _address(item.get("provider"), "provider"),
                              str(item.get("endpoint", "")), _int(item, "since_height"))
            msgs.validate_basic_serve(pb.MsgServeModel(provider=serving.provider,
                                                       model=serving.model,
                                                       endpoint=serving.endpoint))
            keeper.put_serving(ctx, serving)
        for item in sorted(_list(section, "keys"), key=lambda k: str(k.get("key_hash"))):
            entry = ApiKeyEntry(
                key_hash=_hex(item.get("key_hash", ""), "key_hash", 32),
                owner=_address(item.get("owner"), "owner"), budget=_int(item, "budget"),
                spent=_int(item, "spent"), created_height=_int(item, "created_height"),
                expires_height=_int(item, "expires_height"),
                models=tuple(sorted(str(m) for m in item.get("models") or [])),
                revoked_height=_int(item, "revoked_height"), closes_height=0,
                settled_tickets=_int(item, "settled_tickets"))
            if entry.spent > entry.budget:
                raise INVALID_GENESIS(f"key {entry.key_hash.hex()} spent past its budget")
            closes = _int(item, "closes_height")
            if closes:
                entry = keeper.schedule_closing(ctx, entry, max(closes, first_block))
            keeper.put_key(ctx, entry)
        for item in settled:
            keeper.record_settled(ctx, _int(item, "height"),
                                  _hex(item.get("request_id", ""), "request_id", 16),
                                  _int(item, "charged"))

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {
            "relays": [{"public_key": r.public_key.hex(), "owner": r.owner,
                        "registered_height": str(r.registered_height)}
                       for r in keeper.all_relays(ctx)],
            "providers": [{"model": s.model, "provider": s.provider, "endpoint": s.endpoint,
                           "since_height": str(s.since_height)}
                          for s in keeper.all_serving(ctx)],
            "keys": [{"key_hash": k.key_hash.hex(), "owner": k.owner, "budget": str(k.budget),
                      "spent": str(k.spent), "created_height": str(k.created_height),
                      "expires_height": str(k.expires_height), "models": list(k.models),
                      "revoked_height": str(k.revoked_height),
                      "closes_height": str(k.closes_height),
                      "settled_tickets": str(k.settled_tickets)}
                     for k in keeper.all_keys(ctx)],
            "settled": [{"height": str(h), "request_id": r.hex(), "charged": str(c)}
                        for h, r, c in keeper.all_settled(ctx)],
            **{name: str(keeper.state_value(ctx, name)) for name in keeper.CURSORS},
        }

    def end_block(self, ctx: Context) -> None:
        """Refund keys that closed, then prune expired settled records, within the
        per-block limit (``max_closings_per_block`` each)."""
        limit = ctx.params("inference").max_closings_per_block
        lifecycle.run_closings(ctx, limit)
        settlement.prune_settled(ctx, limit)

    def check_invariants(self, ctx: Context) -> list[str]:
        return keeper.broken_invariants(ctx)


MODULE = InferenceModule()
