"""auth: accounts, sequences and envelope limits (docs/modules.md)."""

from abci_app.modules.auth.module import MODULE

__all__ = ["MODULE"]
