"""Inference through the network: API keys with budgets in escrow, providers serving
models, relays that sign tickets, and batched settlement (whitepaper section 7)."""

from abci_app.modules.inference.module import MODULE

__all__ = ["MODULE"]
