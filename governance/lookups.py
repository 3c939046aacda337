"""Chain look-ups the commands share: accounts, balances, params, amounts, the chain id.

Each function turns the app's query codes into a :class:`CommandError` whose message says
what to do, so commands stay short.
"""

from __future__ import annotations

from typing import Any

from abci_app.modules.auth.errors import ACCOUNT_NOT_FOUND
from abci_app.modules.bank.denom import format_amount, parse_amount
from abci_app.tx import is_valid_address
from governance.output import CommandError
from race_node.client.rpc import CometRPC


def parse_amount_nicoin(text: str, what: str = "amount") -> int:
    """``1.5icoin``, ``300nicoin``, ``2uicoin`` ... as an integer number of nicoin (> 0)."""
    try:
        amount = int(parse_amount(text))
    except (ValueError, ArithmeticError) as exc:
        raise CommandError(f"bad {what} {text!r}: {exc}. Write a number with a denomination, "
                           "e.g. 1.5icoin, 250micoin, 10uicoin or 300nicoin") from exc
    except Exception as exc:  # the bank module raises its own error type for bad amounts
        raise CommandError(f"bad {what} {text!r}: {exc}") from exc
    if amount < 0:
        raise CommandError(f"bad {what} {text!r}: must not be negative")
    return amount


def format_nicoin(amount: int) -> str:
    return str(format_amount(amount))


def require_address(text: str, what: str) -> str:
    if not is_valid_address(text):
        raise CommandError(f"bad {what} {text!r}: expected a bech32 address starting "
                           "with race1")
    return text


def query_json(rpc: CometRPC, path: str) -> Any:
    result = rpc.abci_query(path)
    if not result.ok:
        raise CommandError(f"query {path} failed (code {result.code}): {result.log}")
    return result.json()


def account(rpc: CometRPC, address: str) -> dict[str, Any] | None:
    """The on-chain account (sequence, public key), or None when it does not exist yet."""
    result = rpc.abci_query(f"/auth/account/{address}")
    if ACCOUNT_NOT_FOUND.matches(result.code):
        return None
    if not result.ok:
        raise CommandError(f"cannot read account {address} (code {result.code}): {result.log}")
    return result.json()


def balance_nicoin(rpc: CometRPC, address: str) -> int:
    return int(query_json(rpc, f"/bank/balance/{address}")["amount"])


def min_fee_nicoin(rpc: CometRPC) -> int:
    """The chain's minimum fee (auth params), 0 when the chain does not set one."""
    params = query_json(rpc, "/auth/params")
    return int(params.get("min_fee_nicoin", 0) or 0)


def chain_id(rpc: CometRPC) -> str:
    return str(rpc.status()["node_info"]["network"])
