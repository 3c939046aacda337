"""The pricing module's message: ``MsgPriceVote`` (whitepaper Appendix J 3a)."""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.epochs import keeper as epochs
from abci_app.modules.epochs import weights
from abci_app.modules.pricing import keeper
from abci_app.modules.pricing.errors import (
    INVALID_ADDRESS,
    INVALID_PRICE,
    NO_VOTING_WEIGHT,
    PRICE_ABOVE_MAX,
    VOTER_NOT_SIGNER,
)
from abci_app.modules.pricing.params import MAX_STORABLE_PRICE
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import pricing_pb2


def check_address(address: str, field: str) -> None:
    """A bech32 ``race1...`` address, or INVALID_ADDRESS naming the field."""
    if not is_valid_address(address):
        raise INVALID_ADDRESS(f"{field} {address!r} is not a bech32 race1... address")


def validate_basic_price_vote(msg: pricing_pb2.MsgPriceVote) -> None:
    """Stateless: a valid voter address and a positive, storable price."""
    check_address(msg.voter, "voter")
    if not 1 <= msg.price_per_unit_nicoin <= MAX_STORABLE_PRICE:
        raise INVALID_PRICE(
            f"price_per_unit_nicoin must be between 1 and {MAX_STORABLE_PRICE}, "
            f"got {msg.price_per_unit_nicoin}"
        )


def handle_price_vote(ctx: Context, msg: pricing_pb2.MsgPriceVote) -> None:
    """Record the signer's vote; only accounts with voting weight vote (Appendix J 3a)."""
    if msg.voter != ctx.signer:
        raise VOTER_NOT_SIGNER(f"voter {msg.voter} must be the tx signer {ctx.signer}")
    weight = weights.voting_weight(ctx, msg.voter)
    if weight <= 0:
        raise NO_VOTING_WEIGHT(
            f"{msg.voter} has no voting weight: only operators of validators with power "
            "may vote a price"
        )
    maximum = ctx.params("pricing").max_price_per_unit_nicoin
    if msg.price_per_unit_nicoin > maximum:
        raise PRICE_ABOVE_MAX(
            f"{msg.price_per_unit_nicoin} nicoin per unit of compute is above "
            f"max_price_per_unit_nicoin ({maximum})"
        )
    epoch = epochs.current_epoch(ctx)
    replaced = keeper.record_vote(ctx, msg.voter, msg.price_per_unit_nicoin, epoch.number)
    ctx.emit("price_vote", voter=msg.voter, price_per_unit_nicoin=msg.price_per_unit_nicoin,
             weight=weight, epoch=epoch.number, replaced=str(replaced).lower(),
             counts_at_height=epoch.end_height)
