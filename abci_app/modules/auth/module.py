"""The auth module: accounts, sequences (replay protection) and the envelope limits."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, QueryRoute
from abci_app.modules.auth import keeper, params
from abci_app.modules.auth.errors import ACCOUNT_NOT_FOUND, INVALID_ADDRESS, INVALID_GENESIS
from abci_app.modules.auth.tables import ACCOUNTS
from abci_app.tx.keys import decode_address
from race_protocol.integers import integer_from_json


def _address_arg(args: list[str]) -> str:
    if len(args) != 1:
        raise INVALID_ADDRESS("give exactly one address: /auth/account/<race1...>")
    try:
        decode_address(args[0])
    except ValueError as bad:
        raise INVALID_ADDRESS(f"{args[0]!r}: {bad}") from None
    return args[0]


def query_account(ctx: Context, args: list[str], _data: bytes) -> dict[str, Any]:
    """``/auth/account/<addr>``: sequence and public key (hex, or null before the first tx)."""
    address = _address_arg(args)
    account = keeper.get_account(ctx, address)
    if account is None:
        raise ACCOUNT_NOT_FOUND(f"{address} has never received coins")
    return {
        "address": account.address,
        "sequence": account.sequence,
        "public_key": None if account.public_key is None else account.public_key.hex(),
    }


class AuthModule(Module):
    """Accounts exist once they receive coins; each tx advances its signer's sequence."""

    name = "auth"
    tables = (ACCOUNTS,)
    params_type = params.AuthParams
    query_routes = (QueryRoute("account", query_account),)

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """Optional ``accounts: [{address, sequence, public_key?}]`` (bank creates the rest)."""
        for entry in section.get("accounts", []):
            address = entry.get("address", "")
            try:
                decode_address(address)
            except ValueError as bad:
                raise INVALID_GENESIS(f"account {address!r}: {bad}") from None
            try:
                sequence = integer_from_json(entry.get("sequence", 0))
            except ValueError as bad:
                raise INVALID_GENESIS(f"account {address}: sequence must be an integer: "
                                      f"{bad}") from None
            if sequence < 0:
                raise INVALID_GENESIS(f"account {address}: negative sequence")
            public_key = entry.get("public_key")
            raw_key = bytes.fromhex(public_key) if public_key else None
            keeper.set_account(ctx, keeper.Account(address, raw_key, sequence))

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {
            "accounts": [
                {
                    "address": a.address,
                    "sequence": a.sequence,
                    **({"public_key": a.public_key.hex()} if a.public_key else {}),
                }
                for a in keeper.all_accounts(ctx)
            ]
        }


MODULE = AuthModule()
