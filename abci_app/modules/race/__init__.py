"""race: voting weight from proven compute (whitepaper section 4 and Appendix A; docs/race.md)."""

from abci_app.modules.race.module import MODULE

__all__ = ["MODULE"]
