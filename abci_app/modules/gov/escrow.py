"""Deposits held by the gov module account: escrowed, refunded, or burned.

Whitepaper Appendix J: "a deposit is made to prevent spam". Deposits are refunded when a
proposal passes or is rejected, and burned when it is vetoed or never reaches the minimum
deposit. Coins only move through the bank module's keeper.
"""

from __future__ import annotations

from abci_app.modules.context import Context

GOV_MODULE_ACCOUNT = "gov"


def authority_address() -> str:
    """The gov module account's address: the only authority of registry and param changes.

    It is derived from the module name and has no private key, so no tx can be signed by it.
    """
    from abci_app.tx.keys import module_address

    return module_address(GOV_MODULE_ACCOUNT)


def escrow(ctx: Context, depositor: str, amount: int) -> None:
    """Move a deposit from the depositor to the gov module account."""
    from abci_app.modules.bank import keeper as bank

    bank.send(ctx, depositor, authority_address(), amount)


def refund(ctx: Context, depositor: str, amount: int) -> None:
    """Return a deposit from the gov module account."""
    from abci_app.modules.bank import keeper as bank

    bank.send(ctx, authority_address(), depositor, amount)


def burn(ctx: Context, amount: int) -> None:
    """Destroy deposits held by the gov module account (total supply falls)."""
    from abci_app.modules.bank import keeper as bank

    bank.burn(ctx, authority_address(), amount)
