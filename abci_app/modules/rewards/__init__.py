"""Held rewards, their release at each Race cycle's end, reputation, and the whitepaper's
tokenomics (section 6; Appendices E, F and K; docs/rewards.md)."""

from abci_app.modules.rewards.module import MODULE

__all__ = ["MODULE"]
