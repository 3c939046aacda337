"""The bank module: balances, MsgSend, fees to the fee collector, and the supply invariant."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.bank import keeper, msgs, params
from abci_app.modules.bank.denom import format_amount
from abci_app.modules.bank.errors import INVALID_ADDRESS, INVALID_GENESIS
from abci_app.modules.bank.tables import BALANCES, SUPPLY
from abci_app.tx.keys import decode_address
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from race_protocol.integers import integer_from_json


def _amount_json(amount: int) -> dict[str, Any]:
    # Amounts travel as decimal strings: JSON numbers lose precision above 2^53.
    return {"amount": str(amount), "display": format_amount(amount)}


def query_balance(ctx: Context, args: list[str], _data: bytes) -> dict[str, Any]:
    """``/bank/balance/<addr>``: the balance in nicoin (0 for unknown accounts)."""
    if len(args) != 1:
        raise INVALID_ADDRESS("give exactly one address: /bank/balance/<race1...>")
    try:
        decode_address(args[0])
    except ValueError as bad:
        raise INVALID_ADDRESS(f"{args[0]!r}: {bad}") from None
    return {"address": args[0], **_amount_json(keeper.balance(ctx, args[0]))}


def query_supply(ctx: Context, _args: list[str], _data: bytes) -> dict[str, Any]:
    """``/bank/supply``: total nicoin in existence."""
    return _amount_json(keeper.supply(ctx))


class BankModule(Module):
    """Coins: genesis balances, transfers, fees, and mint/burn for issuance."""

    name = "bank"
    tables = (BALANCES, SUPPLY)
    params_type = params.BankParams
    msg_routes = (MsgRoute(MsgSend, msgs.validate_basic_send, msgs.handle_send),)
    indexed_events = (("transfer", "sender"), ("transfer", "recipient"))
    query_routes = (
        QueryRoute("balance", query_balance),
        QueryRoute("supply", query_supply),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def validate_params_in_state(self, ctx: Context, value: Any) -> None:
        params.validate_in_state(value, keeper.supply(ctx))

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``balances: [{address, amount}]`` minted at genesis; supply is their sum."""
        seen: set[str] = set()
        for entry in section.get("balances", []):
            address = entry.get("address", "")
            try:
                decode_address(address)
            except ValueError as bad:
                raise INVALID_GENESIS(f"balance of {address!r}: {bad}") from None
            if address in seen:
                raise INVALID_GENESIS(f"{address} is listed twice")
            seen.add(address)
            try:
                amount = integer_from_json(entry.get("amount", 0))
            except ValueError as bad:
                raise INVALID_GENESIS(f"{address}: amount must be an integer: {bad}") from None
            if amount <= 0:
                raise INVALID_GENESIS(f"{address}: amount must be positive nicoin")
            keeper.mint(ctx, address, amount)
        declared = section.get("supply")
        try:
            declared_supply = None if declared is None else integer_from_json(declared)
        except ValueError as bad:
            raise INVALID_GENESIS(f"supply must be an integer: {bad}") from None
        if declared_supply is not None and declared_supply != keeper.supply(ctx):
            raise INVALID_GENESIS(
                f"supply {declared} does not equal the sum of balances {keeper.supply(ctx)}"
            )

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {
            "balances": [
                {"address": address, "amount": str(amount)}
                for address, amount in keeper.all_balances(ctx)
            ],
            "supply": str(keeper.supply(ctx)),
        }

    def check_invariants(self, ctx: Context) -> list[str]:
        return keeper.supply_invariant(ctx)


MODULE = BankModule()
