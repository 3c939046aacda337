"""Deposits held in escrow by the gov module: escrowed, refunded, or burned.

Whitepaper Appendix J: "a deposit is made to prevent spam". Deposits are refunded when a
proposal passes or is rejected, and burned when it is vetoed or never reaches the minimum
deposit. They sit in their own module account, ``gov_deposits``, apart from the gov
account that signs passed proposals' messages: a proposal spending the gov account's
coins can never spend a deposit. Coins only move through the bank module's keeper.
"""

from __future__ import annotations

from functools import cache

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.tx.keys import module_address

DEPOSITS_MODULE_ACCOUNT = "gov_deposits"


@cache
def escrow_address() -> str:
    """The deposits' module account: derived from its name, so no key can sign for it."""
    return module_address(DEPOSITS_MODULE_ACCOUNT)


def escrow(ctx: Context, depositor: str, amount: int) -> None:
    """Move a deposit from the depositor into escrow."""
    bank.send(ctx, depositor, escrow_address(), amount)


def refund(ctx: Context, depositor: str, amount: int) -> None:
    """Return a deposit from escrow."""
    bank.send(ctx, escrow_address(), depositor, amount)


def burn(ctx: Context, amount: int) -> None:
    """Destroy deposits held in escrow (total supply falls)."""
    bank.burn(ctx, escrow_address(), amount)
