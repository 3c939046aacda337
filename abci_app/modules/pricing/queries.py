"""Queries of the pricing module, answered as ``race.v1`` JSON (proto/race/v1/query.proto).

The shapes are the proto3 JSON of the ``Query*Response`` messages (64-bit integers as
strings), so the REST and gRPC gateways return the same data the ABCI query does.
Listings answer one page (abci_app.core.paging).
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import MAX_PAGE_LIMIT, page_request, pagination
from abci_app.modules.epochs import keeper as epochs
from abci_app.modules.epochs import weights
from abci_app.modules.pricing import keeper
from abci_app.tx import is_valid_address
from race_protocol.integers import is_decimal


def _vote_json(vote: keeper.PriceVote) -> dict[str, Any]:
    return {
        "voter": vote.voter,
        "price_per_unit_nicoin": str(vote.price_per_unit_nicoin),
        "height": str(vote.height),
        "epoch": str(vote.epoch),
    }


def price(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/pricing/price``: the price in force (``QueryPriceResponse``)."""
    epoch = epochs.current_epoch(ctx)
    return {
        "price_per_unit_nicoin": str(keeper.current_price(ctx)),
        "epoch": str(keeper.current_price_epoch(ctx)),
        "next_update_height": str(epoch.end_height),
    }


def vote(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/pricing/vote/<address>``: one voter's vote (``QueryPriceVoteResponse``)."""
    if len(args) != 1 or not is_valid_address(args[0]):
        raise BAD_QUERY("use /pricing/vote/<race1... address>")
    found = keeper.price_vote(ctx, args[0])
    answer: dict[str, Any] = {
        "found": found is not None,
        "weight": str(weights.voting_weight(ctx, args[0])),
    }
    if found is not None:
        answer["vote"] = _vote_json(found)
    return answer


def votes(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/pricing/votes``: a page of votes by voter (``QueryPriceVotesResponse``)."""
    page = page_request(data)
    found, following = keeper.price_votes_page(ctx, page.key, page.limit)
    return {"votes": [_vote_json(v) for v in found], "pagination": pagination(following)}


def history(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/pricing/history[/<limit>]``: a page of prices by epoch, newest first.

    The path's ``<limit>`` (kept for older clients) and the page's ``limit`` both cap the
    page; ``key`` is the newest epoch of the page (default: the current one).
    """
    page = page_request(data)
    limit = page.limit
    if args:
        if len(args) != 1 or not is_decimal(args[0]) or args[0].startswith("-"):
            raise BAD_QUERY("use /pricing/history or /pricing/history/<limit>")
        asked = int(args[0], 10)
        if asked:
            # Without a page in data, the path's limit sets the page size.
            limit = min(asked, page.limit if data else MAX_PAGE_LIMIT)
    if page.key and (not is_decimal(page.key) or page.key.startswith("-")):
        raise BAD_QUERY(f"a page of prices starts at an epoch, not {page.key!r}")
    newest = int(page.key, 10) if page.key else 0
    found, following = keeper.price_history(ctx, newest, limit)
    return {"prices": [
        {
            "epoch": str(entry.epoch),
            "price_per_unit_nicoin": str(entry.price_per_unit_nicoin),
            "start_height": str(entry.start_height),
            "voters": str(entry.voters),
            "total_weight": str(entry.total_weight),
        }
        for entry in found
    ], "pagination": pagination(following)}
