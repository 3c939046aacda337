"""The staking module: the validator set from genesis, its power, and validator updates."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, QueryRoute
from abci_app.modules.staking import keeper
from abci_app.modules.staking.errors import INVALID_GENESIS
from abci_app.modules.staking.tables import PENDING_UPDATES, VALIDATORS
from abci_app.tx.keys import decode_address


def query_validators(ctx: Context, _args: list[str], _data: bytes) -> dict[str, Any]:
    """``/staking/validators``: the set with power and operator, by consensus address."""
    return {
        "validators": [
            {
                "address": v.address.hex().upper(),
                "pub_key": v.pub_key.hex(),
                "power": v.power,
                "operator": v.operator,
            }
            for v in keeper.validators(ctx)
        ],
        "total_power": keeper.total_voting_power(ctx),
    }


class StakingModule(Module):
    """Validators come from CometBFT's genesis; later modules change power via set_power."""

    name = "staking"
    tables = (VALIDATORS, PENDING_UPDATES)
    query_routes = (QueryRoute("validators", query_validators),)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``operators: {validator pubkey hex: race1 account}`` links genesis validators."""
        for pub_key_hex, account in sorted(section.get("operators", {}).items()):
            try:
                pub_key = bytes.fromhex(pub_key_hex)
                decode_address(account)
            except ValueError as bad:
                raise INVALID_GENESIS(f"operator {pub_key_hex} -> {account!r}: {bad}") from None
            keeper.set_operator(ctx, pub_key, account)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {
            "operators": {
                v.pub_key.hex(): v.operator for v in keeper.validators(ctx) if v.operator
            }
        }


MODULE = StakingModule()
