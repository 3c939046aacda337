"""What a proposal does: ordinary module messages, run by the router as the gov account.

Cosmos SDK x/gov v1: a proposal carries ``repeated Any`` messages. They are checked when
the proposal is submitted (each is unpacked, checked statelessly, and run in a branch
that is dropped, so a proposal that could not execute today is refused at once with the
inner refusal's own code) and again when it passes, because the chain may have changed
during the voting period. Execution runs every message in one branch, signed by the gov
module account: all of them apply, or none.

gov never names another module here: which messages exist, and what they do, is the
message router's business (abci_app.wiring).
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.core.errors import ChainError
from abci_app.core.module import MsgRoute
from abci_app.core.stateless import unpack_message
from abci_app.modules.gov.errors import INVALID_PROPOSAL
from race_protocol.gen.race.v1 import gov_pb2

MAX_PROPOSAL_MESSAGES = 16
# A proposal cannot submit, fund or vote on proposals: that would let gov recurse.
GOV_MESSAGE_TYPES = frozenset(
    "/" + m.DESCRIPTOR.full_name
    for m in (gov_pb2.MsgSubmitProposal, gov_pb2.MsgDeposit, gov_pb2.MsgVote)
)

Unpacked = list[tuple[MsgRoute, Message]]


def kind_of(messages: Sequence[AnyMessage]) -> str:
    """``"text"`` for no messages, else their types' short names joined by ``,``."""
    if not messages:
        return "text"
    return ",".join(m.type_url.rsplit(".", 1)[-1] for m in messages)


def check_shape(messages: Sequence[AnyMessage]) -> None:
    """Stateless: how many messages, and none of gov's own."""
    if len(messages) > MAX_PROPOSAL_MESSAGES:
        raise INVALID_PROPOSAL(f"a proposal carries at most {MAX_PROPOSAL_MESSAGES} messages, "
                               f"got {len(messages)}")
    for index, packed in enumerate(messages):
        if packed.type_url in GOV_MESSAGE_TYPES:
            raise INVALID_PROPOSAL(f"message {index} ({packed.type_url}): a proposal cannot "
                                   "submit, deposit on or vote on proposals")


def unpack(ctx: Context, messages: Sequence[AnyMessage]) -> Unpacked:
    """Route, decode and check each message statelessly; its own refusal code on failure."""
    check_shape(messages)
    unpacked: Unpacked = []
    for index, packed in enumerate(messages):
        try:
            route, message = unpack_message(ctx.registry, packed, index)
            route.validate_basic(message)
        except ChainError as refusal:
            refusal.log = f"proposal message {index} ({packed.type_url}): {refusal.log}"
            raise
        unpacked.append((route, message))
    return unpacked


def _run(ctx: Context, proposal_id: int, unpacked: Unpacked) -> Context:
    """Every message in one branch signed by the gov account; the branch, unmerged."""
    branch = ctx.branch(signer=governance_authority(), proposal_id=proposal_id)
    for index, (route, message) in enumerate(unpacked):
        try:
            route.handler(branch, message)
        except ChainError as refusal:
            refusal.log = f"proposal message {index} ({route.type_url}): {refusal.log}"
            raise
    return branch


def check_executable(ctx: Context, proposal_id: int, messages: Sequence[AnyMessage]
                     ) -> Unpacked:
    """At submission: the messages would execute on today's state (a dry run, dropped)."""
    unpacked = unpack(ctx, messages)
    _run(ctx, proposal_id, unpacked)
    return unpacked


def try_execute(ctx: Context, proposal_id: int, messages: Sequence[AnyMessage]) -> str:
    """Execute a passed proposal's messages, all or none; returns "" or the failure's log."""
    try:
        branch = _run(ctx, proposal_id, unpack(ctx, messages))
    except ChainError as failure:
        return f"code {failure.code} ({failure.codespace}): {failure.log}"
    ctx.merge(branch)
    return ""


def decoded(ctx: Context, messages: Sequence[AnyMessage]) -> list[Message]:
    """The messages as their module types, for the proposal hooks (empty if any fails to
    decode: such a proposal could never have been stored)."""
    try:
        return [message for _, message in unpack(ctx, messages)]
    except ChainError:
        return []
