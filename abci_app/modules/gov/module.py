"""The gov module: proposals, deposits and weighted votes (whitepaper Appendix J)."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.gov import escrow, genesis, keeper, lifecycle, msgs, params, queries, tables
from race_protocol.gen.race.v1 import gov_pb2


class GovModule(Module):
    """Runs proposals from submission to execution."""

    name = "gov"
    tables = (tables.PROPOSALS, tables.DEPOSITS, tables.VOTES, tables.DEADLINES,
              tables.COUNTERS, tables.REFUNDS)
    params_type = params.GovParams
    msg_routes = (
        MsgRoute(gov_pb2.MsgSubmitProposal, msgs.validate_basic_submit, msgs.handle_submit),
        MsgRoute(gov_pb2.MsgDeposit, msgs.validate_basic_deposit, msgs.handle_deposit),
        MsgRoute(gov_pb2.MsgVote, msgs.validate_basic_vote, msgs.handle_vote),
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

    def validate_params_in_state(self, ctx: Context, value: Any) -> None:
        params.validate_in_state(value, bank.supply(ctx))

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """Proposals, deposits, votes and the next proposal id (see genesis.py)."""
        genesis.init_genesis(ctx, section)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """Every proposal of any status, with its deposits and votes."""
        return genesis.export_genesis(ctx)

    def end_block(self, ctx: Context) -> None:
        lifecycle.end_block(ctx)

    def check_invariants(self, ctx: Context) -> list[str]:
        """Each proposal's total equals its deposits, and the deposits' escrow account holds
        at least the deposits of every open proposal and every refund not yet paid (refunds
        and burns can always be paid)."""
        broken: list[str] = []
        escrowed = 0
        for proposal in keeper.list_proposals(ctx):
            total = sum(amount for _, amount in keeper.deposits(ctx, proposal.id))
            if total != proposal.total_deposit_nicoin:
                broken.append(f"proposal {proposal.id} records {proposal.total_deposit_nicoin}"
                              f" nicoin of deposits but its deposits sum to {total}")
            if proposal.is_open:
                escrowed += total
        escrowed += sum(amount for _, amount in keeper.unpaid_refunds(ctx))
        held = bank.balance(ctx, escrow.escrow_address())
        if held < escrowed:
            broken.append(f"the deposits' escrow account holds {held} nicoin, less than the "
                          f"{escrowed} nicoin of open proposals' deposits and unpaid refunds")
        return broken


MODULE = GovModule()
