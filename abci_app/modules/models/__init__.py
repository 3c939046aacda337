"""The model registry: which models the network serves and what a token of each costs."""

from abci_app.modules.models.module import MODULE

__all__ = ["MODULE"]
