"""Queries of the model registry, answered as ``race.v1`` JSON (proto/race/v1/query.proto).

Listings answer one page (abci_app.core.paging).
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import page_request, pagination
from abci_app.modules.models import keeper
from abci_app.modules.models.errors import MODEL_NOT_FOUND
from abci_app.modules.pricing import keeper as pricing
from race_protocol.gen.race.v1 import models_pb2


def _status_filter(args: list[str]) -> int:
    if not args:
        return 0
    name = args[0].upper()
    if not name.startswith("MODEL_STATUS_"):
        name = "MODEL_STATUS_" + name
    try:
        return models_pb2.ModelStatus.Value(name)
    except ValueError:
        raise BAD_QUERY(f"unknown status {args[0]!r}; use proposed, active or retired") from None


def models(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/models/list[/<status>]``: a page of entries by id with their price per token
    (with a status, those of the page's entries that have it)."""
    status = _status_filter(args)
    page = page_request(data)
    found, following = keeper.models_page(ctx, page.key, page.limit)
    entries = [e for e in found if not status or e.status == status]
    return {
        "models": [e.as_json() for e in entries],
        "price_per_unit_nicoin": str(pricing.current_price(ctx)),
        "price_per_token_nicoin": [str(keeper.price_per_token(ctx, e)) for e in entries],
        "pagination": pagination(following),
    }


def model(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/models/model/<id>``: one entry (``QueryModelResponse``)."""
    if len(args) != 1:
        raise BAD_QUERY("use /models/model/<id>")
    entry = keeper.get_model(ctx, args[0])
    if entry is None:
        raise MODEL_NOT_FOUND(f"no model {args[0]!r} in the registry")
    return {"model": entry.as_json(),
            "price_per_token_nicoin": str(keeper.price_per_token(ctx, entry))}


def pricing_table(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/models/pricing``: a page of the registry's active models and their price per
    token now."""
    price = pricing.current_price(ctx)
    page = page_request(data)
    found, following = keeper.models_page(ctx, page.key, page.limit)
    return {"pagination": pagination(following), "prices": [
        {
            "id": e.id,
            "units_of_compute_per_token": str(e.units_of_compute_per_token),
            "price_per_unit_nicoin": str(price),
            "price_per_token_nicoin": str(e.units_of_compute_per_token * price),
        }
        for e in found if e.status == keeper.ACTIVE
    ]}
