"""Balances and supply; the only code that touches ``bank_balances`` and ``bank_supply``.

Invariant (checked by :func:`supply_invariant`): the sum of all balances equals the
recorded supply, and supply never exceeds ``bank.max_supply_nicoin``. Coins are created
only by :func:`mint` and destroyed only by :func:`burn`.
"""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.auth import keeper as auth
from abci_app.modules.bank.denom import BASE_DENOM, format_amount
from abci_app.modules.bank.errors import INSUFFICIENT_FUNDS, INVALID_AMOUNT, SUPPLY_CAP_EXCEEDED
from abci_app.modules.bank.tables import BALANCES, SUPPLY
from abci_app.tx.keys import module_address

FEE_COLLECTOR = "fee_collector"


def fee_collector_address() -> str:
    """The fee collector's module account (no key can sign for it)."""
    return module_address(FEE_COLLECTOR)


def balance(ctx: Context, address: str) -> int:
    """The address's balance in nicoin (0 if it holds nothing)."""
    row = ctx.table(BALANCES).get(address)
    return 0 if row is None else row["amount"]


def _set_balance(ctx: Context, address: str, amount: int) -> None:
    balances = ctx.table(BALANCES)
    if amount:
        balances.put(address, {"amount": amount})
    else:
        balances.delete(address)


def supply(ctx: Context) -> int:
    """Total nicoin in existence."""
    row = ctx.table(SUPPLY).get(BASE_DENOM)
    return 0 if row is None else row["amount"]


def send(ctx: Context, sender: str, recipient: str, amount: int) -> None:
    """Move ``amount`` nicoin; the recipient's account is created if new."""
    if amount <= 0:
        raise INVALID_AMOUNT(f"amount must be positive, got {amount}")
    have = balance(ctx, sender)
    if have < amount:
        raise INSUFFICIENT_FUNDS(
            f"{sender} holds {format_amount(have)} ({have} nicoin) and cannot send "
            f"{format_amount(amount)}; it needs {amount - have} more nicoin"
        )
    _set_balance(ctx, sender, have - amount)
    _set_balance(ctx, recipient, balance(ctx, recipient) + amount)
    auth.ensure_account(ctx, recipient)


def collect_fee(ctx: Context, payer: str, amount: int) -> None:
    """Move a tx fee to the fee collector module account."""
    send(ctx, payer, fee_collector_address(), amount)


def mint(ctx: Context, recipient: str, amount: int) -> None:
    """Create coins (genesis and issuance only); refuses to pass the supply cap."""
    if amount <= 0:
        raise INVALID_AMOUNT(f"minted amount must be positive, got {amount}")
    total = supply(ctx) + amount
    cap = ctx.params("bank").max_supply_nicoin
    if total > cap:
        raise SUPPLY_CAP_EXCEEDED(f"minting {amount} would make supply {total} > cap {cap}")
    ctx.table(SUPPLY).put(BASE_DENOM, {"amount": total})
    _set_balance(ctx, recipient, balance(ctx, recipient) + amount)
    auth.ensure_account(ctx, recipient)


def burn(ctx: Context, holder: str, amount: int) -> None:
    """Destroy coins held by ``holder`` (e.g. vetoed deposits, the burn share of fees)."""
    if amount <= 0:
        raise INVALID_AMOUNT(f"burned amount must be positive, got {amount}")
    have = balance(ctx, holder)
    if have < amount:
        raise INSUFFICIENT_FUNDS(f"{holder} holds {have} nicoin, cannot burn {amount}")
    _set_balance(ctx, holder, have - amount)
    ctx.table(SUPPLY).put(BASE_DENOM, {"amount": supply(ctx) - amount})


def all_balances(ctx: Context) -> list[tuple[str, int]]:
    """Every non-zero balance in address order."""
    return [(key[0], row["amount"]) for key, row in ctx.table(BALANCES).scan()]


def supply_invariant(ctx: Context) -> list[str]:
    """Broken-invariant messages: sum of balances == supply <= cap."""
    total = sum(amount for _, amount in all_balances(ctx))
    broken = []
    if total != supply(ctx):
        broken.append(f"balances sum to {total} nicoin but supply is {supply(ctx)}")
    if supply(ctx) > ctx.params("bank").max_supply_nicoin:
        broken.append(f"supply {supply(ctx)} exceeds the cap")
    if any(amount <= 0 for _, amount in all_balances(ctx)):
        broken.append("a stored balance is not positive")
    return broken
