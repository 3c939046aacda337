"""The gov module: proposals, deposits and weighted votes (whitepaper Appendix J)."""

from __future__ import annotations

from typing import Any

from abci_app.gen.race.v1 import gov_pb2
from abci_app.modules import Module, MsgRoute, QueryRoute
from abci_app.modules.context import Context
from abci_app.modules.gov import lifecycle, msgs, params, queries, tables


class GovModule(Module):
    """Runs proposals from submission to execution."""

    name = "gov"
    tables = (tables.PROPOSALS, tables.DEPOSITS, tables.VOTES, tables.DEADLINES,
              tables.COUNTERS)
    params_type = params.GovParams
    msg_routes = (
        MsgRoute(gov_pb2.MsgSubmitProposal, msgs.validate_basic_submit, msgs.handle_submit),
        MsgRoute(gov_pb2.MsgDeposit, msgs.validate_basic_deposit, msgs.handle_deposit),
        MsgRoute(gov_pb2.MsgVote, msgs.validate_basic_vote, msgs.handle_vote),
        MsgRoute(gov_pb2.MsgUpdateParams, msgs.validate_basic_update_params,
                 msgs.handle_update_params),
    )
    query_routes = (
        QueryRoute("proposals", queries.proposals),
        QueryRoute("proposal", queries.proposal),
        QueryRoute("deposits", queries.deposits),
        QueryRoute("votes", queries.votes),
        QueryRoute("tally", queries.tally),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def end_block(self, ctx: Context) -> None:
        lifecycle.end_block(ctx)


MODULE = GovModule()
