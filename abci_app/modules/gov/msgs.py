"""The gov module's messages: submit a proposal, deposit, vote."""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.epochs import weights
from abci_app.modules.gov import keeper, proposal_messages
from abci_app.modules.gov.errors import (
    INITIAL_DEPOSIT_TOO_LOW,
    INVALID_ADDRESS,
    INVALID_DEPOSIT,
    INVALID_PROPOSAL,
    INVALID_VOTE_OPTION,
    NO_VOTING_WEIGHT,
    NOT_IN_VOTING_PERIOD,
    PROPOSAL_CLOSED,
    SIGNER_MISMATCH,
)
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import gov_pb2

MAX_TITLE = 140
MAX_SUMMARY = 10_000
MAX_AMOUNT = 2**63 - 1
OPTION_NAMES = {
    gov_pb2.VOTE_OPTION_YES: "yes",
    gov_pb2.VOTE_OPTION_ABSTAIN: "abstain",
    gov_pb2.VOTE_OPTION_NO: "no",
    gov_pb2.VOTE_OPTION_NO_WITH_VETO: "no_with_veto",
}


def _check_address(address: str, field: str) -> None:
    if not is_valid_address(address):
        raise INVALID_ADDRESS(f"{field} {address!r} is not a bech32 race1... address")


def _check_signer(ctx: Context, address: str, field: str) -> None:
    if address != ctx.signer:
        raise SIGNER_MISMATCH(f"{field} {address} must be the tx signer {ctx.signer}")


def _check_amount(amount: int, field: str) -> None:
    if not 1 <= amount <= MAX_AMOUNT:
        raise INVALID_DEPOSIT(f"{field} must be between 1 and {MAX_AMOUNT} nicoin")


def _check_proposal_id(proposal_id: int) -> None:
    if not 1 <= proposal_id <= MAX_AMOUNT:
        raise INVALID_PROPOSAL(f"proposal_id must be between 1 and {MAX_AMOUNT} "
                               "(ids start at 1)")


def _closed_log(proposal: keeper.Proposal) -> str:
    return f"proposal {proposal.id} is {proposal.status_name.replace('_', ' ')}"


# --- MsgSubmitProposal ------------------------------------------------------------------

def validate_basic_submit(msg: gov_pb2.MsgSubmitProposal) -> None:
    """Stateless: proposer, title, summary, deposit amount, and how many messages."""
    _check_address(msg.proposer, "proposer")
    if not msg.title.strip() or len(msg.title) > MAX_TITLE:
        raise INVALID_PROPOSAL(f"title must be 1-{MAX_TITLE} characters")
    if len(msg.summary) > MAX_SUMMARY:
        raise INVALID_PROPOSAL(f"summary must be at most {MAX_SUMMARY} characters")
    if msg.initial_deposit_nicoin > MAX_AMOUNT:
        raise INVALID_DEPOSIT(f"initial_deposit_nicoin must be at most {MAX_AMOUNT}")
    proposal_messages.check_shape(msg.messages)


def handle_submit(ctx: Context, msg: gov_pb2.MsgSubmitProposal) -> None:
    """Open a proposal in its deposit period and escrow the initial deposit.

    Its messages must execute on today's state (a dry run in a dropped branch); a refusal
    keeps the failing message's own code.
    """
    _check_signer(ctx, msg.proposer, "proposer")
    params = ctx.params("gov")
    if msg.initial_deposit_nicoin < params.min_initial_deposit_nicoin:
        raise INITIAL_DEPOSIT_TOO_LOW(
            f"initial deposit {msg.initial_deposit_nicoin} nicoin is below "
            f"min_initial_deposit_nicoin ({params.min_initial_deposit_nicoin})"
        )
    unpacked = proposal_messages.check_executable(ctx, keeper.peek_next_proposal_id(ctx),
                                                  msg.messages)
    kind = proposal_messages.kind_of(msg.messages)
    proposal = keeper.create_proposal(ctx, msg.proposer, msg.title, msg.summary, kind,
                                      msg.messages)
    ctx.registry.hooks.run_proposal_submitted(ctx, proposal.id, msg.proposer,
                                              [message for _, message in unpacked])
    ctx.emit("submit_proposal", proposal_id=proposal.id, proposer=msg.proposer, kind=kind,
             title=msg.title, deposit_end_height=proposal.deposit_end_height,
             initial_deposit_nicoin=msg.initial_deposit_nicoin)
    if msg.initial_deposit_nicoin:
        keeper.add_deposit(ctx, proposal, msg.proposer, msg.initial_deposit_nicoin)


# --- MsgDeposit -------------------------------------------------------------------------

def validate_basic_deposit(msg: gov_pb2.MsgDeposit) -> None:
    _check_address(msg.depositor, "depositor")
    _check_proposal_id(msg.proposal_id)
    _check_amount(msg.amount_nicoin, "amount_nicoin")


def handle_deposit(ctx: Context, msg: gov_pb2.MsgDeposit) -> None:
    """Add to a deposit; accepted only in the deposit or voting period."""
    _check_signer(ctx, msg.depositor, "depositor")
    proposal = keeper.require_proposal(ctx, msg.proposal_id)
    if not proposal.is_open:
        raise PROPOSAL_CLOSED(f"{_closed_log(proposal)}: deposits are accepted only in the "
                              "deposit or voting period")
    keeper.add_deposit(ctx, proposal, msg.depositor, msg.amount_nicoin)


# --- MsgVote ----------------------------------------------------------------------------

def validate_basic_vote(msg: gov_pb2.MsgVote) -> None:
    _check_address(msg.voter, "voter")
    _check_proposal_id(msg.proposal_id)
    if msg.option not in OPTION_NAMES:
        raise INVALID_VOTE_OPTION("option must be yes, no, abstain or no_with_veto")


def handle_vote(ctx: Context, msg: gov_pb2.MsgVote) -> None:
    """Cast or replace a vote: the latest vote counts, weighted at tally time."""
    _check_signer(ctx, msg.voter, "voter")
    proposal = keeper.require_proposal(ctx, msg.proposal_id)
    if proposal.status == keeper.DEPOSIT_PERIOD:
        raise NOT_IN_VOTING_PERIOD(
            f"proposal {proposal.id} is still in its deposit period: it needs "
            f"{ctx.params('gov').min_deposit_nicoin - proposal.total_deposit_nicoin} more "
            "nicoin of deposits before voting opens"
        )
    if proposal.status != keeper.VOTING_PERIOD:
        raise PROPOSAL_CLOSED(f"{_closed_log(proposal)}: voting has ended")
    weight = weights.voting_weight(ctx, msg.voter)
    if weight <= 0:
        raise NO_VOTING_WEIGHT(
            f"{msg.voter} has no voting weight: only operators of validators with power vote"
        )
    replaced = keeper.record_vote(ctx, proposal.id, msg.voter, msg.option)
    ctx.emit("proposal_vote", proposal_id=proposal.id, voter=msg.voter,
             option=OPTION_NAMES[msg.option], weight=weight, replaced=str(replaced).lower())
