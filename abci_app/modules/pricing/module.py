"""The pricing module: voted price per unit of compute (whitepaper Appendix J)."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.pricing import keeper, msgs, params, queries, tables
from abci_app.modules.pricing.errors import INVALID_PARAMS
from race_protocol.gen.race.v1 import pricing_pb2
from race_protocol.integers import integer_from_json


class PricingModule(Module):
    """Price votes and the weighted median at each epoch's end."""

    name = "pricing"
    tables = (tables.PRICE_VOTES, tables.PRICE_HISTORY, tables.PRICE_STATE)
    params_type = params.PricingParams
    msg_routes = (
        MsgRoute(pricing_pb2.MsgPriceVote, msgs.validate_basic_price_vote,
                 msgs.handle_price_vote),
    )
    query_routes = (
        QueryRoute("price", queries.price),
        QueryRoute("vote", queries.vote),
        QueryRoute("votes", queries.votes),
        QueryRoute("history", queries.history),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``price_per_unit_nicoin`` (optional, default the genesis param) and ``votes``:
        ``[{"voter", "price_per_unit_nicoin"}]``, as :meth:`export_genesis` writes them."""
        price = section.get("price_per_unit_nicoin")
        try:
            start_price = None if price is None else integer_from_json(price)
            votes = sorted((str(v["voter"]), integer_from_json(v["price_per_unit_nicoin"]))
                           for v in section.get("votes") or [])
        except (KeyError, TypeError, ValueError) as exc:
            raise INVALID_PARAMS(f"pricing genesis: {exc}") from None
        if start_price is not None and not 1 <= start_price <= params.MAX_STORABLE_PRICE:
            raise INVALID_PARAMS(f"pricing genesis: price_per_unit_nicoin {start_price} is "
                                 f"not between 1 and {params.MAX_STORABLE_PRICE}")
        keeper.init_genesis_price(ctx, start_price)
        for voter, vote_price in votes:
            msgs.validate_basic_price_vote(pricing_pb2.MsgPriceVote(
                voter=voter, price_per_unit_nicoin=vote_price))
            keeper.record_vote(ctx, voter, vote_price, 1)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {
            "price_per_unit_nicoin": str(keeper.current_price(ctx)),
            "votes": [{"voter": v.voter, "price_per_unit_nicoin": str(v.price_per_unit_nicoin)}
                      for v in keeper.price_votes(ctx)],
        }

    def after_epoch_end(self, ctx: Context, epoch: int) -> None:
        """The end-of-epoch hook: the weighted median becomes the next epoch's price."""
        keeper.close_epoch(ctx, epoch)


MODULE = PricingModule()
