"""Queries of the inference module, answered as ``race.v1`` JSON (proto/race/v1/inference.proto).

``/inference/providers/<model>`` is what a relay reads once per block: the model's price,
its weighted providers in draw order, and the latest beacon output that seeds the draw.
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.modules.beacon import keeper as beacon
from abci_app.modules.inference import keeper
from abci_app.modules.inference.errors import KEY_NOT_FOUND, MODEL_NOT_SERVABLE
from abci_app.modules.inference.settlement import expired_through
from abci_app.modules.models import keeper as models
from abci_app.modules.models.keeper import ModelEntry
from abci_app.modules.pricing import keeper as pricing
from abci_app.tx import is_valid_address
from race_protocol.inference.ticket import KEY_HASH_BYTES, PUBLIC_KEY_BYTES, REQUEST_ID_BYTES
from race_protocol.integers import parse_decimal

MAX_SETTLED_IDS = 256


def _hex(value: str, length: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BAD_QUERY(f"{what} must be hex") from None
    if len(raw) != length:
        raise BAD_QUERY(f"{what} must be {length} bytes ({2 * length} hex characters)")
    return raw


def _one_arg(args: list[str], usage: str) -> str:
    if len(args) != 1:
        raise BAD_QUERY(f"use {usage}")
    return args[0]


def _model_json(ctx: Context, entry: ModelEntry, providers: int) -> dict[str, Any]:
    price = pricing.current_price(ctx)
    return {"id": entry.id, "units_of_compute_per_token": str(entry.units_of_compute_per_token),
            "max_context": str(entry.max_context), "price_per_unit_nicoin": str(price),
            "price_per_token_nicoin": str(entry.units_of_compute_per_token * price),
            "providers": str(providers)}


def api_key(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/key/<hex hash>``: one key's record."""
    key_hash = _hex(_one_arg(args, "/inference/key/<hex key hash>"), KEY_HASH_BYTES,
                    "key hash")
    entry = keeper.get_key(ctx, key_hash)
    if entry is None:
        raise KEY_NOT_FOUND(f"no API key with hash {key_hash.hex()}")
    return {"key": entry.as_json(ctx.block.height)}


def api_keys(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/keys/<owner>``: an account's keys (at most ``max_keys_per_owner``)."""
    owner = _one_arg(args, "/inference/keys/<race1... owner>")
    if not is_valid_address(owner):
        raise BAD_QUERY(f"{owner!r} is not a race1... address")
    return {"keys": [e.as_json(ctx.block.height) for e in keeper.keys_of(ctx, owner)]}


def inference_models(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/models``: active models with at least one weighted provider."""
    found = []
    for entry in models.list_models(ctx, models.ACTIVE):
        count = len(keeper.weighted_providers(ctx, entry.id))
        if count:
            found.append(_model_json(ctx, entry, count))
    return {"models": found}


def providers(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/providers/<model>``: the draw's inputs for one model."""
    model_id = _one_arg(args, "/inference/providers/<model id>")
    entry = models.get_model(ctx, model_id)
    if entry is None or entry.status != models.ACTIVE:
        raise MODEL_NOT_SERVABLE(f"{model_id!r} is not an active registry model")
    weighted = keeper.weighted_providers(ctx, model_id)
    latest = beacon.latest_output(ctx)
    return {
        "model": _model_json(ctx, entry, len(weighted)),
        "providers": [{"address": s.provider, "endpoint": s.endpoint, "weight": str(w),
                       "since_height": str(s.since_height)} for s, w in weighted],
        "beacon_round": str(latest.round),
        "beacon_output": bytes(latest.output).hex(),
    }


def relay(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/relay/<hex public key>``."""
    public_key = _hex(_one_arg(args, "/inference/relay/<hex public key>"), PUBLIC_KEY_BYTES,
                      "relay key")
    entry = keeper.get_relay(ctx, public_key)
    if entry is None:
        return {"found": False}
    return {"relay": entry.as_json(), "found": True}


def settled(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/inference/settled/<height>/<hex id>,<hex id>,...``: which are settled."""
    if len(args) != 2:
        raise BAD_QUERY("use /inference/settled/<height>/<hex request id>[,<hex id>...]")
    try:
        height = parse_decimal(args[0])
    except ValueError as bad:
        raise BAD_QUERY(f"height: {bad}") from None
    ids = [i for i in args[1].split(",") if i]
    if len(ids) > MAX_SETTLED_IDS:
        raise BAD_QUERY(f"at most {MAX_SETTLED_IDS} request ids per query")
    found = []
    for text in ids:
        request_id = _hex(text, REQUEST_ID_BYTES, "request id")
        charged = keeper.settled_charge(ctx, height, request_id)
        if charged is not None:
            found.append({"request_id": request_id.hex(), "charged_nicoin": str(charged)})
    return {"settled": found, "expired_through": str(expired_through(ctx))}
