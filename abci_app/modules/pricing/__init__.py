"""The pricing module: price votes per unit of compute and the weighted median per epoch."""

from abci_app.modules.pricing.module import MODULE

__all__ = ["MODULE"]
