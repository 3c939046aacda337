"""State store: module tables in SQLite through SQLAlchemy 2.0, block overlays, and the app hash."""

from abci_app.store.committed import CommittedState, PendingCommit
from abci_app.store.overlay import (
    Key,
    MeteredReader,
    Overlay,
    ReadBudgetExceeded,
    ReadOnlyStateError,
    Row,
    TableView,
)
from abci_app.store.schema import APP_META, METADATA

__all__ = [
    "APP_META",
    "METADATA",
    "CommittedState",
    "Key",
    "MeteredReader",
    "Overlay",
    "PendingCommit",
    "ReadBudgetExceeded",
    "ReadOnlyStateError",
    "Row",
    "TableView",
]
