"""The gov module: proposals with deposits, voted by voting weight, executed when passed."""

from abci_app.modules.gov.module import MODULE

__all__ = ["MODULE"]
