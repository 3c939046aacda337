"""Genesis export and import of the gov module: every proposal, deposit and vote.

A chain exported while a proposal is open carries it on: its deposits stay escrowed in the
gov module account, its votes stay cast, and its period ends at the same height as on the
original chain (whitepaper Appendix J: deposits are refunded or burned only when the
proposal closes). The section is proto3 JSON, integers as decimal strings::

    {"next_proposal_id": "3",
     "proposals": [race.v1.Proposal, ...],   # by id
     "deposits": [race.v1.Deposit, ...],     # by proposal id, then depositor
     "votes": [race.v1.Vote, ...],           # by proposal id, then voter
     "refunds_in_progress": [                # only while a closed proposal's refunds
         {"proposal_id": "2", "next_depositor": "race1..."}]}   # are still being paid

Import checks everything it reads and refuses bad input with a GenesisError naming the
entry: an unknown proposal referenced by a deposit or vote, a bad status or period, deposits
that do not add up to a proposal's total, or an escrow that cannot pay back the deposits of
the open proposals.

Migration from genesis files written before proposals carried module messages
(docs/governance.md, "Genesis migration"): a proposal with a legacy ``content`` object
(``register_model``, ``retire_model``, ``update_model_params``, ``update_params`` or
``text``) is read as the equivalent message list, and open proposals' deposits still held
by the gov account move to the deposits' escrow account.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.core.errors import ChainError, GenesisError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.gov import escrow, keeper, proposal_messages
from abci_app.modules.gov.tables import (
    COUNTERS,
    DEADLINES,
    DEPOSITS,
    NEXT_PROPOSAL_ID,
    REFUNDS,
    VOTES,
)
from abci_app.tx import is_valid_address
from abci_app.tx.codec import pack
from race_protocol.gen.race.v1 import gov_pb2, models_pb2, params_pb2
from race_protocol.integers import integer_from_json

MAX_STORABLE = 2**63 - 1
CLOSED_WITH_TALLY = (keeper.PASSED, keeper.REJECTED, keeper.VETOED, keeper.FAILED)
REFUNDED = (keeper.PASSED, keeper.REJECTED, keeper.FAILED)
VOTE_OPTIONS = (gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_ABSTAIN, gov_pb2.VOTE_OPTION_NO,
                gov_pb2.VOTE_OPTION_NO_WITH_VETO)


# The five kinds of the legacy ``content`` object, and the message each one became.
LEGACY_CONTENT: dict[str, type[Message]] = {
    "register_model": models_pb2.MsgRegisterModel,
    "retire_model": models_pb2.MsgRetireModel,
    "update_model_params": models_pb2.MsgUpdateModelParams,
    "update_params": params_pb2.MsgUpdateParams,
}


def _refuse(message: str) -> Exception:
    return GenesisError(f"gov genesis: {message}")


# --- export ---------------------------------------------------------------------------

def export_genesis(ctx: Context) -> dict[str, Any]:
    """Every proposal (all statuses), deposit and vote, in key order, and the next id."""
    proposals = keeper.list_proposals(ctx)
    counter = ctx.table(COUNTERS).get(NEXT_PROPOSAL_ID)
    deposits = [
        keeper.message_json(gov_pb2.Deposit(proposal_id=key[0], depositor=key[1],
                                            amount_nicoin=row["amount_nicoin"]))
        for key, row in ctx.table(DEPOSITS).scan()
    ]
    votes = [
        keeper.message_json(gov_pb2.Vote(proposal_id=key[0], voter=key[1],
                                         option=row["option"], height=row["height"]))
        for key, row in ctx.table(VOTES).scan()
    ]
    section: dict[str, Any] = {
        "next_proposal_id": str(1 if counter is None else counter["value"]),
        "proposals": [p.as_json() for p in proposals],
        "deposits": deposits,
        "votes": votes,
    }
    refunds = keeper.refunds_in_progress(ctx)
    if refunds:
        section["refunds_in_progress"] = [
            {"proposal_id": str(proposal_id), "next_depositor": depositor}
            for proposal_id, depositor in refunds]
    return section


# --- import ---------------------------------------------------------------------------

def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    """Import what :func:`export_genesis` wrote; GenesisError (and nothing written that
    InitChain keeps) on any inconsistency."""
    proposals = _read_proposals(ctx, _entries(section, "proposals"))
    by_id = {p.id: p for p in proposals}
    next_id = _read_next_id(section.get("next_proposal_id"), proposals)
    deposits = _read_deposits(_entries(section, "deposits"), by_id)
    votes = _read_votes(_entries(section, "votes"), by_id)
    refunds = _read_refunds(_entries(section, "refunds_in_progress"), by_id, deposits)
    _check_escrow(ctx, proposals, deposits, refunds)

    for proposal in proposals:
        keeper.save_proposal(ctx, proposal)
        if proposal.status == keeper.DEPOSIT_PERIOD:
            ctx.table(DEADLINES).put((proposal.deposit_end_height, proposal.id),
                                     {"period": "deposit"})
        elif proposal.status == keeper.VOTING_PERIOD:
            ctx.table(DEADLINES).put((proposal.voting_end_height, proposal.id),
                                     {"period": "voting"})
        if proposal.is_open:
            _reserve(ctx, proposal)
    for (proposal_id, depositor), amount in sorted(deposits.items()):
        ctx.table(DEPOSITS).put((proposal_id, depositor), {"amount_nicoin": amount})
    for (proposal_id, voter), (option, height) in sorted(votes.items()):
        ctx.table(VOTES).put((proposal_id, voter), {"option": option, "height": height})
    for proposal_id, depositor in sorted(refunds.items()):
        ctx.table(REFUNDS).put(proposal_id, {"next_depositor": depositor})
    # No row means 1: a chain that never had a proposal has none, and must hash the same.
    if next_id > 1:
        ctx.table(COUNTERS).put(NEXT_PROPOSAL_ID, {"value": next_id})


def _entries(section: dict[str, Any], name: str) -> list[Any]:
    value = section.get(name) or []
    if not isinstance(value, list):
        raise _refuse(f"{name} must be a list, got {type(value).__name__}")
    return value


def _parse(item: Any, message: Message, what: str) -> Any:
    if not isinstance(item, dict):
        raise _refuse(f"{what} must be a JSON object, got {item!r}")
    try:
        return json_format.ParseDict(item, message)
    except json_format.ParseError as bad:
        raise _refuse(f"{what}: {bad}") from None


def _check_address(address: str, what: str) -> None:
    if not is_valid_address(address):
        raise _refuse(f"{what} {address!r} is not a bech32 race1... address")


def _legacy_messages(item: dict[str, Any], what: str) -> list[AnyMessage]:
    """A pre-messages proposal's ``content`` as the messages it now carries."""
    content = item.get("content")
    if not isinstance(content, dict) or len(content) != 1:
        raise _refuse(f"{what}: a legacy content object has exactly one kind, got {content!r}")
    (kind, body), = content.items()
    if kind == "text":
        return []
    message_type = LEGACY_CONTENT.get(kind)
    if message_type is None or not isinstance(body, dict):
        raise _refuse(f"{what}: unknown legacy content kind {kind!r}")
    body = dict(body)
    # Legacy exports print every field, so an unset authority or owner reads as "": the
    # chain then filled them in at execution (the gov account, the proposer).
    if not body.get("authority"):
        body["authority"] = governance_authority()
    if kind == "register_model" and not body.get("owner"):
        body["owner"] = item.get("proposer", "")
    return [pack(_parse(body, message_type(), f"{what} content.{kind}"))]


def _read_proposals(ctx: Context, items: list[Any]) -> list[keeper.Proposal]:
    """Proposals by id, each with a known status consistent with its periods."""
    found: dict[int, keeper.Proposal] = {}
    for index, item in enumerate(items):
        legacy: list[AnyMessage] | None = None
        if isinstance(item, dict) and "content" in item:
            legacy = _legacy_messages(item, f"proposals[{index}]")
            item = {k: v for k, v in item.items() if k not in ("content", "kind")}
        message = _parse(item, gov_pb2.Proposal(), f"proposals[{index}]")
        if legacy is not None:
            message.messages.extend(legacy)
            message.kind = proposal_messages.kind_of(legacy)
        what = f"proposal {message.id}"
        if not 1 <= message.id <= MAX_STORABLE:
            raise _refuse(f"proposals[{index}]: id must be between 1 and {MAX_STORABLE}")
        if message.id in found:
            raise _refuse(f"{what} appears twice")
        if message.status not in gov_pb2.ProposalStatus.values() or message.status == 0:
            raise _refuse(f"{what} has status {message.status}; expected one of "
                          f"{', '.join(gov_pb2.ProposalStatus.keys()[1:])}")
        _check_address(message.proposer, f"{what} proposer")
        try:
            if message.status in keeper.OPEN_STATUSES:
                proposal_messages.unpack(ctx, message.messages)
            else:
                proposal_messages.check_shape(message.messages)
        except ChainError as bad:
            raise _refuse(f"{what} messages: {bad.log}") from None
        kind = proposal_messages.kind_of(message.messages)
        if message.kind != kind:
            raise _refuse(f"{what} has kind {message.kind!r} but its messages are {kind!r}")
        if message.total_deposit_nicoin > MAX_STORABLE:
            raise _refuse(f"{what} total_deposit_nicoin exceeds {MAX_STORABLE}")
        _check_periods(ctx, message, what)
        tally = b""
        if message.HasField("final_tally"):
            _check_tally(message.final_tally, what)
            tally = message.final_tally.SerializeToString(deterministic=True)
        found[message.id] = keeper.Proposal(
            id=message.id, proposer=message.proposer, title=message.title,
            summary=message.summary, kind=kind,
            messages=keeper.encode_messages(message.messages),
            status=message.status, submit_height=message.submit_height,
            deposit_end_height=message.deposit_end_height,
            total_deposit_nicoin=message.total_deposit_nicoin,
            voting_start_height=message.voting_start_height,
            voting_end_height=message.voting_end_height, final_tally=tally,
            execution_log=message.execution_log,
        )
    return [found[proposal_id] for proposal_id in sorted(found)]


def _check_periods(ctx: Context, message: gov_pb2.Proposal, what: str) -> None:
    """Heights in order; an open period must still end on this chain (at or after the
    genesis height), or nothing would ever close it."""
    status = message.status
    if not 0 <= message.submit_height <= message.deposit_end_height:
        raise _refuse(f"{what}: submit_height {message.submit_height} must be between 0 and "
                      f"deposit_end_height {message.deposit_end_height}")
    voting = status not in (keeper.DEPOSIT_PERIOD, keeper.DEPOSIT_FAILED)
    if voting and not 0 < message.voting_start_height <= message.voting_end_height:
        raise _refuse(f"{what} ({_status_name(status)}) needs 0 < voting_start_height "
                      f"({message.voting_start_height}) <= voting_end_height "
                      f"({message.voting_end_height})")
    if not voting and (message.voting_start_height or message.voting_end_height):
        raise _refuse(f"{what} ({_status_name(status)}) never voted: its voting heights "
                      "must be 0")
    if status == keeper.DEPOSIT_PERIOD and message.deposit_end_height < ctx.block.height:
        raise _refuse(f"{what}: its deposit period ended at height "
                      f"{message.deposit_end_height}, before the genesis height "
                      f"{ctx.block.height}")
    if status == keeper.VOTING_PERIOD and message.voting_end_height < ctx.block.height:
        raise _refuse(f"{what}: its voting period ended at height {message.voting_end_height},"
                      f" before the genesis height {ctx.block.height}")
    has_tally = message.HasField("final_tally")
    if status in CLOSED_WITH_TALLY and not has_tally:
        raise _refuse(f"{what} ({_status_name(status)}) has no final_tally")
    if status not in CLOSED_WITH_TALLY and has_tally:
        raise _refuse(f"{what} ({_status_name(status)}) was never tallied but has a "
                      "final_tally")
    if message.execution_log and status != keeper.FAILED:
        raise _refuse(f"{what}: only a failed proposal has an execution_log")


def _status_name(status: int) -> str:
    return gov_pb2.ProposalStatus.Name(status).removeprefix("PROPOSAL_STATUS_").lower()


def _check_tally(tally: gov_pb2.TallyResult, what: str) -> None:
    for field in ("yes", "abstain", "no", "no_with_veto", "total_weight"):
        text = getattr(tally, field)
        if not (text.isascii() and text.isdigit()) or str(int(text)) != text:
            raise _refuse(f"{what} final_tally.{field} must be a decimal integer, got {text!r}")


def _read_next_id(value: Any, proposals: list[keeper.Proposal]) -> int:
    """The next id: after every imported proposal's (default: the highest id plus one)."""
    highest = proposals[-1].id if proposals else 0
    if value is None:
        return highest + 1
    try:
        next_id = int(str(value), 10)
    except ValueError:
        raise _refuse(f"next_proposal_id must be a decimal integer, got {value!r}") from None
    if not highest < next_id <= MAX_STORABLE:
        raise _refuse(f"next_proposal_id {next_id} must be above the highest proposal id "
                      f"({highest}) and at most {MAX_STORABLE}")
    return next_id


def _read_deposits(items: list[Any], by_id: dict[int, keeper.Proposal]
                   ) -> dict[tuple[int, str], int]:
    """(proposal id, depositor) -> amount; each proposal's deposits sum to its total."""
    found: dict[tuple[int, str], int] = {}
    totals: dict[int, int] = defaultdict(int)
    for index, item in enumerate(items):
        message = _parse(item, gov_pb2.Deposit(), f"deposits[{index}]")
        what = f"deposits[{index}] (proposal {message.proposal_id}, {message.depositor})"
        if message.proposal_id not in by_id:
            raise _refuse(f"{what} references unknown proposal {message.proposal_id}")
        _check_address(message.depositor, f"{what} depositor")
        if not 1 <= message.amount_nicoin <= MAX_STORABLE:
            raise _refuse(f"{what}: amount_nicoin must be between 1 and {MAX_STORABLE}")
        key = (message.proposal_id, message.depositor)
        if key in found:
            raise _refuse(f"{what} appears twice")
        found[key] = message.amount_nicoin
        totals[message.proposal_id] += message.amount_nicoin
    for proposal_id, proposal in sorted(by_id.items()):
        if totals[proposal_id] != proposal.total_deposit_nicoin:
            raise _refuse(f"proposal {proposal_id} records total_deposit_nicoin "
                          f"{proposal.total_deposit_nicoin} but its deposits sum to "
                          f"{totals[proposal_id]}")
    return found


def _read_votes(items: list[Any], by_id: dict[int, keeper.Proposal]
                ) -> dict[tuple[int, str], tuple[int, int]]:
    """(proposal id, voter) -> (option, height); only proposals that reached voting."""
    found: dict[tuple[int, str], tuple[int, int]] = {}
    for index, item in enumerate(items):
        message = _parse(item, gov_pb2.Vote(), f"votes[{index}]")
        what = f"votes[{index}] (proposal {message.proposal_id}, {message.voter})"
        proposal = by_id.get(message.proposal_id)
        if proposal is None:
            raise _refuse(f"{what} references unknown proposal {message.proposal_id}")
        if proposal.status in (keeper.DEPOSIT_PERIOD, keeper.DEPOSIT_FAILED):
            raise _refuse(f"{what}: proposal {proposal.id} is {proposal.status_name} and "
                          "never had a voting period")
        _check_address(message.voter, f"{what} voter")
        if message.option not in VOTE_OPTIONS:
            raise _refuse(f"{what}: option {message.option} is not one of "
                          f"{', '.join(gov_pb2.VoteOption.keys()[1:])}")
        if not proposal.voting_start_height <= message.height <= proposal.voting_end_height:
            raise _refuse(f"{what}: height {message.height} is outside the voting period "
                          f"{proposal.voting_start_height}..{proposal.voting_end_height}")
        key = (message.proposal_id, message.voter)
        if key in found:
            raise _refuse(f"{what} appears twice")
        found[key] = (message.option, message.height)
    return found


def _read_refunds(items: list[Any], by_id: dict[int, keeper.Proposal],
                  deposits: dict[tuple[int, str], int]) -> dict[int, str]:
    """Refunds still being paid: a refunded proposal's id and the depositor paid next."""
    found: dict[int, str] = {}
    for index, item in enumerate(items):
        what = f"refunds_in_progress[{index}]"
        if not isinstance(item, dict) or set(item) != {"proposal_id", "next_depositor"}:
            raise _refuse(f"{what} must be {{proposal_id, next_depositor}}, got {item!r}")
        try:
            proposal_id = integer_from_json(item["proposal_id"])
        except ValueError as bad:
            raise _refuse(f"{what}.proposal_id: {bad}") from None
        depositor = item["next_depositor"]
        proposal = by_id.get(proposal_id)
        if proposal is None or proposal.status not in REFUNDED or proposal_id in found:
            raise _refuse(f"{what}: proposal {proposal_id} is not a passed, failed or "
                          "rejected proposal listed once")
        if not isinstance(depositor, str) or (
                depositor and (proposal_id, depositor) not in deposits):
            raise _refuse(f"{what}: {depositor!r} is not a depositor of proposal "
                          f"{proposal_id}")
        found[proposal_id] = depositor
    return found


def _check_escrow(ctx: Context, proposals: list[keeper.Proposal],
                  deposits: dict[tuple[int, str], int], refunds: dict[int, str]) -> None:
    """The escrow account (bank genesis, imported before gov) holds every open deposit and
    every refund still to pay, so each can be refunded or burned. A genesis written when
    the gov account held deposits has them moved to the escrow account."""
    open_ids = {p.id for p in proposals if p.is_open}
    escrowed = sum(amount for (proposal_id, depositor), amount in sorted(deposits.items())
                   if proposal_id in open_ids
                   or (proposal_id in refunds and depositor >= refunds[proposal_id]))
    held = bank.balance(ctx, escrow.escrow_address())
    short = escrowed - held
    if short > 0 and bank.balance(ctx, governance_authority()) >= short:
        bank.send(ctx, governance_authority(), escrow.escrow_address(), short)
        held += short
    if held < escrowed:
        raise _refuse(f"the deposits' escrow account {escrow.escrow_address()} holds {held} "
                      f"nicoin but open proposals' deposits and unpaid refunds total "
                      f"{escrowed}; the bank "
                      "section must give it at least that")


def _reserve(ctx: Context, proposal: keeper.Proposal) -> None:
    """An open proposal tells the proposal hooks again that it exists, as it did on the
    original chain (e.g. a register-model proposal holds its model id, which the models
    section does not export). They run as at the proposal's submission height, so state
    hashes the same."""
    at_submission = Context(ctx.mode, replace(ctx.block, height=proposal.submit_height),
                            ctx.state, ctx.registry)
    messages = proposal_messages.decoded(ctx, proposal.packed_messages())
    try:
        ctx.registry.hooks.run_proposal_submitted(at_submission, proposal.id,
                                                  proposal.proposer, messages)
    except ChainError as bad:
        raise _refuse(f"proposal {proposal.id} cannot be re-opened: {bad.log}") from None
