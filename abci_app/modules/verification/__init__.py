"""The verification module: auditable spot-checks of settled inference from committed
per-epoch seeds, disputes by weighted majority and paid user reports (whitepaper section
6; docs/verification.md)."""

from abci_app.modules.verification.module import MODULE

__all__ = ["MODULE"]
