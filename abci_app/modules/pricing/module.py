"""The pricing module: voted price per unit of compute (whitepaper Appendix J)."""

from __future__ import annotations

from typing import Any

from abci_app.gen.race.v1 import pricing_pb2
from abci_app.modules import Module, MsgRoute, QueryRoute
from abci_app.modules.context import Context
from abci_app.modules.pricing import keeper, msgs, params, queries, tables


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
        keeper.init_genesis_price(ctx)

    def end_epoch(self, ctx: Context, epoch: int) -> None:
        keeper.close_epoch(ctx, epoch)


MODULE = PricingModule()
