"""The epochs module: an epoch length in blocks and the end-of-epoch hook later modules join."""

from abci_app.modules.epochs.module import MODULE

__all__ = ["MODULE"]
