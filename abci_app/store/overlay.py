"""Layered in-memory write buffers over committed state.

A block's writes live in an :class:`Overlay` until Commit (DESIGN.md §3: a block's writes
commit atomically). A tx runs in a child overlay that is merged into the block on
success and dropped on failure, so a rejected tx changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import Table

from abci_app.store.schema import primary_key_columns, value_columns

Key = tuple[Any, ...]
Row = dict[str, Any]


class StateReader(Protocol):
    """Anything an overlay can sit on: committed state or another overlay."""

    def get(self, table: Table, key: Key) -> Row | None:
        """The row stored under ``key``, or None."""

    def scan(self, table: Table, prefix: Key) -> Iterator[tuple[Key, Row]]:
        """Rows whose key starts with ``prefix``, in key order."""


class ReadOnlyStateError(RuntimeError):
    """A write was attempted through a read-only view (queries)."""


class Overlay:
    """Pending writes (``None`` marks a delete) over a parent reader."""

    __slots__ = ("parent", "writes", "read_only")

    def __init__(self, parent: StateReader, read_only: bool = False) -> None:
        self.parent = parent
        self.writes: dict[Table, dict[Key, Row | None]] = {}
        self.read_only = read_only

    def get(self, table: Table, key: Key) -> Row | None:
        table_writes = self.writes.get(table)
        if table_writes is not None and key in table_writes:
            return table_writes[key]
        return self.parent.get(table, key)

    def put(self, table: Table, key: Key, row: Row | None) -> None:
        if self.read_only:
            raise ReadOnlyStateError(f"cannot write {table.name} in a read-only context")
        table_writes = self.writes.get(table)
        if table_writes is None:
            table_writes = self.writes[table] = {}
        table_writes[key] = row

    def scan(self, table: Table, prefix: Key) -> Iterator[tuple[Key, Row]]:
        table_writes = self.writes.get(table)
        if not table_writes:
            yield from self.parent.scan(table, prefix)
            return
        width = len(prefix)
        merged: dict[Key, Row | None] = dict(self.parent.scan(table, prefix))
        for key, row in table_writes.items():
            if key[:width] == prefix:
                merged[key] = row
        for key in sorted(merged):
            row = merged[key]
            if row is not None:
                yield key, row

    def child(self) -> Overlay:
        """A nested buffer whose writes reach this one only through :meth:`merge_into_parent`."""
        return Overlay(self, self.read_only)

    def merge_into_parent(self) -> None:
        """Apply this overlay's writes to its parent overlay."""
        parent = self.parent
        if not isinstance(parent, Overlay):
            raise TypeError("only a child overlay can be merged")
        for table, table_writes in self.writes.items():
            target = parent.writes.get(table)
            if target is None:
                parent.writes[table] = dict(table_writes)
            else:
                target.update(table_writes)

    def write_count(self) -> int:
        """Number of distinct keys written."""
        return sum(len(w) for w in self.writes.values())


class TableView:
    """One module table seen through an overlay; the only way keepers touch state."""

    __slots__ = ("_state", "_table", "_keys", "_values")

    def __init__(self, state: Overlay, table: Table) -> None:
        self._state = state
        self._table = table
        self._keys = primary_key_columns(table)
        self._values = value_columns(table)

    def _key(self, key: Any) -> Key:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) != len(self._keys):
            raise TypeError(f"{self._table.name} keys are {self._keys}, got {key!r}")
        return key

    def get(self, key: Any) -> Row | None:
        """A copy of the row's non-key columns, or None."""
        row = self._state.get(self._table, self._key(key))
        return None if row is None else dict(row)

    def has(self, key: Any) -> bool:
        """Whether a row exists under ``key``."""
        return self._state.get(self._table, self._key(key)) is not None

    def put(self, key: Any, row: Row) -> None:
        """Insert or replace the row; every non-key column must be given."""
        if len(row) != len(self._values):
            extra = set(row) - set(self._values)
            raise TypeError(f"{self._table.name} has no columns {sorted(extra)}")
        self._state.put(self._table, self._key(key), {c: row[c] for c in self._values})

    def delete(self, key: Any) -> None:
        """Remove the row (a no-op if absent)."""
        self._state.put(self._table, self._key(key), None)

    def scan(self, prefix: Any = ()) -> Iterator[tuple[Key, Row]]:
        """Rows whose key starts with ``prefix``, in primary-key order."""
        if not isinstance(prefix, tuple):
            prefix = (prefix,)
        for key, row in self._state.scan(self._table, prefix):
            yield key, dict(row)
