"""MsgSend: move coins from the signer to another account."""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.bank import keeper
from abci_app.modules.bank.errors import (
    INVALID_ADDRESS,
    INVALID_AMOUNT,
    SEND_DISABLED,
    SIGNER_MISMATCH,
)
from abci_app.modules.bank.params import SUPPLY_CAP_NICOIN
from abci_app.tx.keys import decode_address
from race_protocol.gen.race.v1.bank_pb2 import MsgSend


def validate_basic_send(msg: MsgSend) -> None:
    """Both addresses well-formed, amount positive and below the supply cap."""
    for field in ("from_address", "to_address"):
        try:
            decode_address(getattr(msg, field))
        except ValueError as bad:
            raise INVALID_ADDRESS(f"{field} {getattr(msg, field)!r}: {bad}") from None
    if msg.amount_nicoin == 0:
        raise INVALID_AMOUNT("amount_nicoin must be positive")
    if msg.amount_nicoin > SUPPLY_CAP_NICOIN:
        raise INVALID_AMOUNT(f"amount_nicoin {msg.amount_nicoin} exceeds the whole supply cap")


def handle_send(ctx: Context, msg: MsgSend) -> None:
    """Only the signer can send its own coins."""
    if msg.from_address != ctx.signer:
        raise SIGNER_MISMATCH(
            f"from_address {msg.from_address} but the tx is signed by {ctx.signer}"
        )
    if not ctx.params("bank").send_enabled:
        raise SEND_DISABLED("bank.send_enabled is false")
    keeper.send(ctx, msg.from_address, msg.to_address, msg.amount_nicoin)
    ctx.emit(
        "transfer",
        sender=msg.from_address,
        recipient=msg.to_address,
        amount=msg.amount_nicoin,
    )
