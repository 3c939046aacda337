"""staking: the validator set, voting weight, and validator updates (docs/modules.md §10)."""

from abci_app.modules.staking.module import MODULE

__all__ = ["MODULE"]
