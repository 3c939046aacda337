"""Accounts and their sequences; the only code that touches ``auth_accounts``."""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.core.context import Context
from abci_app.modules.auth.tables import ACCOUNTS


@dataclass(frozen=True)
class Account:
    """An account: its address, its public key once known, and its next sequence."""

    address: str
    public_key: bytes | None
    sequence: int


def get_account(ctx: Context, address: str) -> Account | None:
    """The account at ``address``, or None if it never held coins."""
    row = ctx.table(ACCOUNTS).get(address)
    if row is None:
        return None
    return Account(address, row["public_key"], row["sequence"])


def ensure_account(ctx: Context, address: str) -> None:
    """Create the account with sequence 0 if it does not exist (first receipt of coins)."""
    accounts = ctx.table(ACCOUNTS)
    if not accounts.has(address):
        accounts.put(address, {"public_key": None, "sequence": 0})


def set_account(ctx: Context, account: Account) -> None:
    """Store an account (genesis import and the ante handler)."""
    ctx.table(ACCOUNTS).put(
        account.address, {"public_key": account.public_key, "sequence": account.sequence}
    )


def consume_sequence(ctx: Context, account: Account, public_key: bytes) -> None:
    """Advance the account's sequence after a tx is accepted; remember its public key."""
    set_account(ctx, Account(account.address, public_key, account.sequence + 1))


def all_accounts(ctx: Context) -> list[Account]:
    """Every account in address order (genesis export)."""
    return [
        Account(key[0], row["public_key"], row["sequence"])
        for key, row in ctx.table(ACCOUNTS).scan()
    ]
