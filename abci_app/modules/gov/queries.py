"""Queries of the gov module, answered as ``race.v1`` JSON (proto/race/v1/query.proto).

Listings answer one page (abci_app.core.paging): ``data`` may ask for
``{"key": ..., "limit": N}``, and the answer's ``pagination.next_key`` says where the next
page starts.
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import page_request, pagination
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


def _first_id(key: str) -> int:
    if key and (not is_decimal(key) or key.startswith("-")):
        raise BAD_QUERY(f"a page of proposals starts at a proposal id, not {key!r}")
    return int(key, 10) if key else 0


def proposals(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/proposals[/<status>]``: a page of proposals by id (``QueryProposalsResponse``).

    The page is ``limit`` proposals read; with a status, only those among them that have
    it are listed (a page may then hold fewer, or none, and still have a next one).
    """
    status = _status_filter(args)
    page = page_request(data)
    found, following = keeper.proposals_page(ctx, _first_id(page.key), page.limit)
    return {"proposals": [p.as_json() for p in found if not status or p.status == status],
            "pagination": pagination(following)}


def proposal(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/proposal/<id>`` (``QueryProposalResponse``)."""
    return {"proposal": keeper.require_proposal(ctx, _proposal_id(args, "proposal")).as_json()}


def deposits(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/deposits/<id>``: a page of deposits by depositor (``QueryDepositsResponse``)."""
    proposal_id = keeper.require_proposal(ctx, _proposal_id(args, "deposits")).id
    page = page_request(data)
    found, following = keeper.deposits_page(ctx, proposal_id, page.key, page.limit)
    return {"deposits": [
        {"proposal_id": str(proposal_id), "depositor": depositor, "amount_nicoin": str(amount)}
        for depositor, amount in found
    ], "pagination": pagination(following)}


def votes(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/gov/votes/<id>``: a page of votes by voter (``QueryVotesResponse``)."""
    proposal_id = keeper.require_proposal(ctx, _proposal_id(args, "votes")).id
    page = page_request(data)
    found, following = keeper.votes_page(ctx, proposal_id, page.key, page.limit)
    return {"votes": [
        {"proposal_id": str(proposal_id), "voter": voter,
         "option": gov_pb2.VoteOption.Name(option), "height": str(height)}
        for voter, option, height in found
    ], "pagination": pagination(following)}


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
