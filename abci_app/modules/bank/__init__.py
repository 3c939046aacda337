"""bank: balances, MsgSend, fees and denominations (docs/modules.md)."""

from abci_app.modules.bank.module import MODULE

__all__ = ["MODULE"]
