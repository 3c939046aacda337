"""Queries of the gov module, answered as ``race.v1`` JSON (proto/race/v1/query.proto)."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.modules.gov import keeper
from race_protocol.gen.race.v1 import gov_pb2
from race_protocol.integers import is_decimal


def _proposal_id(args: list[str], route: str) -> int:
    if len(args) != 1 or not is_decimal(args[0]) or args[0].startswith("-"):
        raise BAD_QUERY(f"use /gov/{route}/<proposal id>")
    return int(args[0], 10)


def _status_filter(args: list[str]) -> int:
    if not args:
        return 0
    name = args[0].upper().replace("-", "_")
    if not name.startswith("PROPOSAL_STATUS_"):
        name = "PROPOSAL_STATUS_" + name
    try:
        return gov_pb2.ProposalStatus.Value(name)
    except ValueError:
        known = [n.removeprefix("PROPOSAL_STATUS_").lower()
                 for n in gov_pb2.ProposalStatus.keys()[1:]]
        raise BAD_QUERY(f"unknown status {args[0]!r}; use one of {', '.join(known)}") from None


def proposals(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/proposals[/<status>]``: proposals by id (``QueryProposalsResponse``)."""
    return {"proposals": [p.as_json() for p in keeper.list_proposals(ctx, _status_filter(args))]}


def proposal(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/proposal/<id>`` (``QueryProposalResponse``)."""
    return {"proposal": keeper.require_proposal(ctx, _proposal_id(args, "proposal")).as_json()}


def deposits(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/deposits/<id>`` (``QueryDepositsResponse``)."""
    proposal_id = keeper.require_proposal(ctx, _proposal_id(args, "deposits")).id
    return {"deposits": [
        {"proposal_id": str(proposal_id), "depositor": depositor, "amount_nicoin": str(amount)}
        for depositor, amount in keeper.deposits(ctx, proposal_id)
    ]}


def votes(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/votes/<id>`` (``QueryVotesResponse``)."""
    proposal_id = keeper.require_proposal(ctx, _proposal_id(args, "votes")).id
    return {"votes": [
        {"proposal_id": str(proposal_id), "voter": voter,
         "option": gov_pb2.VoteOption.Name(option), "height": str(height)}
        for voter, option, height in keeper.votes(ctx, proposal_id)
    ]}


def tally(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/tally/<id>``: final for a closed proposal, else the count with today's weights."""
    found = keeper.require_proposal(ctx, _proposal_id(args, "tally"))
    if found.final_tally:
        result = gov_pb2.TallyResult.FromString(found.final_tally)
        outcomes: dict[int, str] = {keeper.PASSED: "passed", keeper.FAILED: "passed",
                                    keeper.VETOED: "vetoed"}
        outcome = outcomes.get(found.status, "rejected")
        return {"tally": keeper.message_json(result), "final": True, "outcome": outcome}
    if found.status != keeper.VOTING_PERIOD:
        empty = keeper.message_json(gov_pb2.TallyResult(
            yes="0", abstain="0", no="0", no_with_veto="0", total_weight="0"))
        return {"tally": empty, "final": found.status == keeper.DEPOSIT_FAILED, "outcome": ""}
    running = keeper.current_tally(ctx, found)
    return {"tally": keeper.message_json(keeper.tally_proto(running)), "final": False,
            "outcome": running.outcome.value}
