"""The beacon module: the chain's randomness, by commit-reveal with threshold recovery
(whitepaper Appendix B; docs/beacon.md)."""

from abci_app.modules.beacon.module import MODULE

__all__ = ["MODULE"]
