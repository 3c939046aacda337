"""params: the message that changes any module's chain params (governance only)."""

from abci_app.modules.params.module import MODULE

__all__ = ["MODULE"]
