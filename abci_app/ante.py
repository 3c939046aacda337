"""The app's ante handler: the stateful checks every tx passes before its messages run
(docs/modules.md §9). It composes the auth module (accounts, sequences) with the bank
module (the fee), so it lives with the wiring, above both, as Cosmos SDK's ante does.

Replay protection: the tx's sequence must equal the signer account's. Spam protection:
the fee must reach ``auth.min_fee_nicoin`` and the signer must be able to pay it. Once
these pass, the fee goes to the fee collector and the sequence advances, whatever the
messages then do.
"""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.auth import keeper
from abci_app.modules.auth.errors import (
    ACCOUNT_NOT_FOUND,
    FEE_TOO_LOW,
    INSUFFICIENT_FEE_FUNDS,
    WRONG_SEQUENCE,
)
from abci_app.modules.auth.params import AuthParams
from abci_app.modules.bank import keeper as bank
from abci_app.tx.codec import DecodedTx


def check_and_charge(ctx: Context, tx: DecodedTx) -> None:
    """Check sequence and fee against state, then charge the fee and advance the sequence.

    The pipeline runs this on a branch (abci_app.core.pipeline), so a refusal leaves
    nothing behind whatever it wrote before.
    """
    params: AuthParams = ctx.params("auth")
    account = keeper.get_account(ctx, tx.signer)
    if account is None:
        raise ACCOUNT_NOT_FOUND(
            f"{tx.signer} has never received coins; fund it before it signs txs"
        )
    if tx.sequence != account.sequence:
        raise WRONG_SEQUENCE(
            f"{tx.signer} is at sequence {account.sequence} but the tx carries {tx.sequence}; "
            "query /auth/account/<address> and sign with that sequence"
        )
    if tx.fee_nicoin < params.min_fee_nicoin:
        raise FEE_TOO_LOW(
            f"fee {tx.fee_nicoin} nicoin is below auth.min_fee_nicoin = {params.min_fee_nicoin}"
        )
    balance = bank.balance(ctx, tx.signer)
    if balance < tx.fee_nicoin:
        raise INSUFFICIENT_FEE_FUNDS(
            f"{tx.signer} holds {balance} nicoin and cannot pay the fee of {tx.fee_nicoin}"
        )
    if tx.fee_nicoin:
        bank.collect_fee(ctx, tx.signer, tx.fee_nicoin)
    keeper.consume_sequence(ctx, account, tx.public_key)
