"""State access of the gov module: proposals, deposits, votes and their deadlines.

The life of a proposal (whitepaper Appendix J, "Decentralized Model Registration Process"):

1. Submitted with an initial deposit: it enters its *deposit period*.
2. Once its deposits reach ``min_deposit_nicoin`` it enters its *voting period*; if the
   deposit period ends first, it fails and its deposits are burned.
3. When the voting period ends it is tallied with every voter's weight at that moment:
   passed (executed, deposits refunded), rejected (refunded) or vetoed (burned).

Burning a proposal's deposits is one bank operation. Refunds are one transfer per
depositor, so a block pays at most :data:`MAX_REFUNDS_PER_BLOCK` of them, in proposal id
then depositor order, and the next block resumes where it stopped (docs/modules.md §13).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.core.paging import scan_page
from abci_app.modules.epochs import weights
from abci_app.modules.gov import escrow
from abci_app.modules.gov.errors import PROPOSAL_NOT_FOUND
from abci_app.modules.gov.tables import (
    COUNTERS,
    DEADLINES,
    DEPOSITS,
    NEXT_PROPOSAL_ID,
    PROPOSALS,
    REFUNDS,
    VOTES,
)
from abci_app.modules.gov.tally import TallyOutcome, TallyResult, VoteOption, tally
from race_protocol.gen.race.v1 import gov_pb2

DEPOSIT_PERIOD = gov_pb2.PROPOSAL_STATUS_DEPOSIT_PERIOD
VOTING_PERIOD = gov_pb2.PROPOSAL_STATUS_VOTING_PERIOD
PASSED = gov_pb2.PROPOSAL_STATUS_PASSED
REJECTED = gov_pb2.PROPOSAL_STATUS_REJECTED
VETOED = gov_pb2.PROPOSAL_STATUS_VETOED
DEPOSIT_FAILED = gov_pb2.PROPOSAL_STATUS_DEPOSIT_FAILED
FAILED = gov_pb2.PROPOSAL_STATUS_FAILED
OPEN_STATUSES = (DEPOSIT_PERIOD, VOTING_PERIOD)

authority_address = governance_authority
# Deposit refunds paid per block (docs/modules.md §13).
MAX_REFUNDS_PER_BLOCK = 500


@dataclass(frozen=True)
class Proposal:
    """A stored proposal (``race.v1.Proposal``)."""

    id: int
    proposer: str
    title: str
    summary: str
    kind: str
    messages: bytes
    status: int
    submit_height: int
    deposit_end_height: int
    total_deposit_nicoin: int
    voting_start_height: int
    voting_end_height: int
    final_tally: bytes
    execution_log: str

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def status_name(self) -> str:
        return gov_pb2.ProposalStatus.Name(self.status).removeprefix("PROPOSAL_STATUS_").lower()

    def packed_messages(self) -> list[AnyMessage]:
        """The messages it executes if it passes, still packed in ``Any``."""
        return list(gov_pb2.ProposalMessages.FromString(self.messages).messages)

    def to_proto(self) -> gov_pb2.Proposal:
        message = gov_pb2.Proposal(
            id=self.id, proposer=self.proposer, title=self.title, summary=self.summary,
            messages=self.packed_messages(),
            status=cast(gov_pb2.ProposalStatus, self.status),
            submit_height=self.submit_height, deposit_end_height=self.deposit_end_height,
            total_deposit_nicoin=self.total_deposit_nicoin,
            voting_start_height=self.voting_start_height,
            voting_end_height=self.voting_end_height, execution_log=self.execution_log,
            kind=self.kind,
        )
        if self.final_tally:
            message.final_tally.CopyFrom(gov_pb2.TallyResult.FromString(self.final_tally))
        return message

    def as_json(self) -> dict[str, Any]:
        return message_json(self.to_proto())


def message_json(message: Any) -> dict[str, Any]:
    """Proto3 JSON with field names as in the .proto and every field present."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                      always_print_fields_with_no_presence=True)


# --- proposals ------------------------------------------------------------------------

def get_proposal(ctx: Context, proposal_id: int) -> Proposal | None:
    row = ctx.table(PROPOSALS).get(proposal_id)
    return None if row is None else Proposal(id=proposal_id, **row)


def require_proposal(ctx: Context, proposal_id: int) -> Proposal:
    found = get_proposal(ctx, proposal_id)
    if found is None:
        raise PROPOSAL_NOT_FOUND(f"no proposal {proposal_id}; list them with `race gov list`")
    return found


def list_proposals(ctx: Context, status: int = 0) -> list[Proposal]:
    """Proposals by id; only those with ``status`` unless it is 0."""
    found = [Proposal(id=key[0], **row) for key, row in ctx.table(PROPOSALS).scan()]
    return [p for p in found if not status or p.status == status]


def proposals_page(ctx: Context, first_id: int, limit: int
                   ) -> tuple[list[Proposal], int | None]:
    """Up to ``limit`` proposals from id ``first_id`` on, and the id the next page starts at."""
    rows, following = scan_page(ctx.table(PROPOSALS), start=first_id or None, limit=limit)
    found = [Proposal(id=key[0], **row) for key, row in rows]
    return found, None if following is None else following[0]


def save_proposal(ctx: Context, proposal: Proposal) -> None:
    row = {k: v for k, v in proposal.__dict__.items() if k != "id"}
    ctx.table(PROPOSALS).put(proposal.id, row)


def peek_next_proposal_id(ctx: Context) -> int:
    """The id the next proposal will get (1, 2, ...), without taking it."""
    row = ctx.table(COUNTERS).get(NEXT_PROPOSAL_ID)
    return 1 if row is None else int(row["value"])


def next_proposal_id(ctx: Context) -> int:
    """Allocate the next proposal id (1, 2, ...)."""
    proposal_id = peek_next_proposal_id(ctx)
    ctx.table(COUNTERS).put(NEXT_PROPOSAL_ID, {"value": proposal_id + 1})
    return proposal_id


def encode_messages(messages: Sequence[AnyMessage]) -> bytes:
    """A proposal's messages as stored (``race.v1.ProposalMessages``)."""
    stored = gov_pb2.ProposalMessages(messages=list(messages))
    return stored.SerializeToString(deterministic=True)


def create_proposal(ctx: Context, proposer: str, title: str, summary: str, kind: str,
                    messages: Sequence[AnyMessage]) -> Proposal:
    """Store a new proposal in its deposit period, with its deposit deadline queued."""
    params = ctx.params("gov")
    proposal = Proposal(
        id=next_proposal_id(ctx), proposer=proposer, title=title, summary=summary, kind=kind,
        messages=encode_messages(messages), status=DEPOSIT_PERIOD,
        submit_height=ctx.block.height,
        deposit_end_height=ctx.block.height + params.max_deposit_period_blocks,
        total_deposit_nicoin=0, voting_start_height=0, voting_end_height=0, final_tally=b"",
        execution_log="",
    )
    save_proposal(ctx, proposal)
    ctx.table(DEADLINES).put((proposal.deposit_end_height, proposal.id), {"period": "deposit"})
    return proposal


# --- deposits -------------------------------------------------------------------------

def deposits(ctx: Context, proposal_id: int) -> list[tuple[str, int]]:
    """(depositor, amount) of a proposal, by depositor address."""
    return [(key[1], row["amount_nicoin"])
            for key, row in ctx.table(DEPOSITS).scan(proposal_id)]


def deposits_page(ctx: Context, proposal_id: int, first: str, limit: int
                  ) -> tuple[list[tuple[str, int]], str | None]:
    """Up to ``limit`` (depositor, amount) of a proposal from depositor ``first`` on, and
    the depositor the next page starts at."""
    rows, following = scan_page(ctx.table(DEPOSITS), proposal_id,
                                start=(proposal_id, first) if first else None, limit=limit)
    found = [(key[1], row["amount_nicoin"]) for key, row in rows]
    return found, None if following is None else following[1]


def add_deposit(ctx: Context, proposal: Proposal, depositor: str, amount: int) -> Proposal:
    """Escrow ``amount`` and open the voting period if the minimum deposit is now reached."""
    escrow.escrow(ctx, depositor, amount)
    table = ctx.table(DEPOSITS)
    earlier = table.get((proposal.id, depositor))
    table.put((proposal.id, depositor),
              {"amount_nicoin": amount + (earlier["amount_nicoin"] if earlier else 0)})
    proposal = replace(proposal, total_deposit_nicoin=proposal.total_deposit_nicoin + amount)
    ctx.emit("proposal_deposit", proposal_id=proposal.id, depositor=depositor,
             amount_nicoin=amount, total_deposit_nicoin=proposal.total_deposit_nicoin)
    min_deposit = ctx.params("gov").min_deposit_nicoin
    if proposal.status == DEPOSIT_PERIOD and proposal.total_deposit_nicoin >= min_deposit:
        proposal = start_voting(ctx, proposal)
    save_proposal(ctx, proposal)
    return proposal


def start_voting(ctx: Context, proposal: Proposal) -> Proposal:
    """Move a proposal from its deposit period to its voting period."""
    voting_end = ctx.block.height + ctx.params("gov").voting_period_blocks
    deadlines = ctx.table(DEADLINES)
    deadlines.delete((proposal.deposit_end_height, proposal.id))
    deadlines.put((voting_end, proposal.id), {"period": "voting"})
    ctx.emit("proposal_voting_started", proposal_id=proposal.id,
             voting_start_height=ctx.block.height, voting_end_height=voting_end)
    return replace(proposal, status=VOTING_PERIOD, voting_start_height=ctx.block.height,
                   voting_end_height=voting_end)


def settle_deposits(ctx: Context, proposal: Proposal, burn: bool) -> None:
    """Burn every deposit of a closed proposal at once, or queue their refunds
    (:func:`pay_refunds` pays them, this block and the next ones)."""
    total = proposal.total_deposit_nicoin
    if burn:
        if total:
            escrow.burn(ctx, total)
        ctx.emit("proposal_deposits_burned", proposal_id=proposal.id, amount_nicoin=total)
    elif total:
        ctx.table(REFUNDS).put(proposal.id, {"next_depositor": ""})


def pay_refunds(ctx: Context, budget: int | None = None) -> None:
    """Pay queued refunds, at most ``budget`` deposits (MAX_REFUNDS_PER_BLOCK) this block.

    Proposals in id order, each one's depositors in address order; a proposal whose
    deposits do not all fit resumes at the next block where this one stopped. Each block
    emits ``proposal_deposits_refunded`` per proposal it paid, with ``complete`` "true"
    once the proposal's last deposit is back.
    """
    left = MAX_REFUNDS_PER_BLOCK if budget is None else budget
    queue = ctx.table(REFUNDS)
    for key, row in list(queue.scan(limit=left)):
        if left <= 0:
            return
        proposal_id = key[0]
        paid, following = deposits_page(ctx, proposal_id, row["next_depositor"], left)
        for depositor, amount in paid:
            escrow.refund(ctx, depositor, amount)
        left -= len(paid)
        if following is None:
            queue.delete(proposal_id)
        else:
            queue.put(proposal_id, {"next_depositor": following})
        ctx.emit("proposal_deposits_refunded", proposal_id=proposal_id,
                 amount_nicoin=sum(amount for _, amount in paid), depositors=len(paid),
                 complete=str(following is None).lower())


def unpaid_refunds(ctx: Context) -> list[tuple[int, int]]:
    """(proposal id, nicoin) of refunds queued and not yet paid, by proposal id."""
    unpaid = []
    for key, row in ctx.table(REFUNDS).scan():
        start = (key[0], row["next_depositor"]) if row["next_depositor"] else None
        rest = ctx.table(DEPOSITS).scan(key[0], start=start)
        unpaid.append((key[0], sum(found["amount_nicoin"] for _, found in rest)))
    return unpaid


def refunds_in_progress(ctx: Context) -> list[tuple[int, str]]:
    """(proposal id, next depositor) of every queued refund, by proposal id."""
    return [(key[0], row["next_depositor"]) for key, row in ctx.table(REFUNDS).scan()]


# --- votes ----------------------------------------------------------------------------

def votes(ctx: Context, proposal_id: int) -> list[tuple[str, int, int]]:
    """(voter, option, height) of a proposal, by voter address."""
    return [(key[1], row["option"], row["height"])
            for key, row in ctx.table(VOTES).scan(proposal_id)]


def votes_page(ctx: Context, proposal_id: int, first: str, limit: int
               ) -> tuple[list[tuple[str, int, int]], str | None]:
    """Up to ``limit`` (voter, option, height) of a proposal from voter ``first`` on, and
    the voter the next page starts at."""
    rows, following = scan_page(ctx.table(VOTES), proposal_id,
                                start=(proposal_id, first) if first else None, limit=limit)
    found = [(key[1], row["option"], row["height"]) for key, row in rows]
    return found, None if following is None else following[1]


def record_vote(ctx: Context, proposal_id: int, voter: str, option: int) -> bool:
    """Store the vote, replacing the voter's earlier one; True when it replaced one."""
    table = ctx.table(VOTES)
    replaced = table.has((proposal_id, voter))
    table.put((proposal_id, voter), {"option": option, "height": ctx.block.height})
    return replaced


def current_tally(ctx: Context, proposal: Proposal) -> TallyResult:
    """Count a proposal's votes with every voter's voting weight now."""
    cast = {voter: VoteOption(option) for voter, option, _ in votes(ctx, proposal.id)}
    voter_weights = {voter: weights.voting_weight(ctx, voter) for voter in sorted(cast)}
    return tally(cast, voter_weights, ctx.params("gov").tally_rules(),
                 total_weight=weights.total_voting_weight(ctx))


def tally_proto(result: TallyResult) -> gov_pb2.TallyResult:
    return gov_pb2.TallyResult(
        yes=str(result.yes), abstain=str(result.abstain), no=str(result.no),
        no_with_veto=str(result.no_with_veto), total_weight=str(result.total_weight))


# --- deadlines ------------------------------------------------------------------------

def due_proposals(ctx: Context) -> list[tuple[int, str]]:
    """(proposal id, period) of every period ending at this block, by id."""
    return [(key[1], row["period"]) for key, row in ctx.table(DEADLINES).scan(ctx.block.height)]


def clear_deadline(ctx: Context, proposal_id: int) -> None:
    ctx.table(DEADLINES).delete((ctx.block.height, proposal_id))


OUTCOME_STATUS = {
    TallyOutcome.PASSED: PASSED,
    TallyOutcome.REJECTED: REJECTED,
    TallyOutcome.REJECTED_QUORUM: REJECTED,
    TallyOutcome.VETOED: VETOED,
}
