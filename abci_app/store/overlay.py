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

    def scan(self, table: Table, prefix: Key, start: Key | None = None,
             limit: int | None = None) -> Iterator[tuple[Key, Row]]:
        """Rows whose key starts with ``prefix``, from ``start`` on (compared on its own
        length), in key order; at most ``limit`` of them."""


class ReadOnlyStateError(RuntimeError):
    """A write was attempted through a read-only view (queries)."""


class ReadBudgetExceeded(RuntimeError):
    """A reader handed out more rows than its budget allows (a query too costly to serve)."""


class MeteredReader:
    """A reader that counts the rows it hands out and refuses past ``budget``.

    Queries run on the app's one event loop, between consensus requests: a query that
    reads O(state) would stall the node. Under an overlay, every row a query reads (a
    point read, or a row of a scan) costs one unit of the budget; scans ask the store for
    no more rows than the budget has left.
    """

    __slots__ = ("parent", "remaining")

    def __init__(self, parent: StateReader, budget: int) -> None:
        self.parent = parent
        self.remaining = budget

    def _spend(self) -> None:
        self.remaining -= 1
        if self.remaining < 0:
            raise ReadBudgetExceeded("the query reads more rows than one query may")

    def get(self, table: Table, key: Key) -> Row | None:
        self._spend()
        return self.parent.get(table, key)

    def scan(self, table: Table, prefix: Key, start: Key | None = None,
             limit: int | None = None) -> Iterator[tuple[Key, Row]]:
        cap = self.remaining + 1 if limit is None else min(limit, self.remaining + 1)
        for found in self.parent.scan(table, prefix, start, cap):
            self._spend()
            yield found


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

    def scan(self, table: Table, prefix: Key, start: Key | None = None,
             limit: int | None = None) -> Iterator[tuple[Key, Row]]:
        table_writes = self.writes.get(table)
        if not table_writes:
            yield from self.parent.scan(table, prefix, start, limit)
            return
        width = len(prefix)
        start_width = len(start) if start else 0
        pending = {key: row for key, row in table_writes.items()
                   if key[:width] == prefix and (not start or key[:start_width] >= start)}
        # Each pending key can hide or replace at most one of the parent's rows, so the
        # first ``limit`` merged rows lie within the parent's first ``limit + pending``.
        parent_limit = None if limit is None else limit + len(pending)
        merged: dict[Key, Row | None] = dict(self.parent.scan(table, prefix, start,
                                                              parent_limit))
        merged.update(pending)
        found = 0
        for key in sorted(merged):
            row = merged[key]
            if row is None:
                continue
            if limit is not None and found >= limit:
                return
            found += 1
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

    def scan(self, prefix: Any = (), start: Any = None,
             limit: int | None = None) -> Iterator[tuple[Key, Row]]:
        """Rows whose key starts with ``prefix``, in primary-key order; with ``start``, only
        keys at or after it (compared on its length); with ``limit``, at most that many.
        Work is O(rows returned + this block's writes to the table), not O(table)."""
        if not isinstance(prefix, tuple):
            prefix = (prefix,)
        if start is not None and not isinstance(start, tuple):
            start = (start,)
        for key, row in self._state.scan(self._table, prefix, start, limit):
            yield key, dict(row)
