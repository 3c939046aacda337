"""The SQLAlchemy metadata every module's tables hang on, and the app's bookkeeping table."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, MetaData, String, Table

METADATA = MetaData()

# Not consensus state: the last committed height, app hash and state digest.
# Written in the same SQLite transaction as the block's rows, so they can never disagree.
APP_META = Table(
    "app_meta",
    METADATA,
    Column("key", String, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)


_KEY_COLUMNS: dict[Table, tuple[str, ...]] = {}
_VALUE_COLUMNS: dict[Table, tuple[str, ...]] = {}


def primary_key_columns(table: Table) -> tuple[str, ...]:
    """Names of the table's primary-key columns in declaration order."""
    names = _KEY_COLUMNS.get(table)
    if names is None:
        names = _KEY_COLUMNS[table] = tuple(c.name for c in table.primary_key.columns)
    return names


def value_columns(table: Table) -> tuple[str, ...]:
    """Names of the table's non-key columns in declaration order."""
    names = _VALUE_COLUMNS.get(table)
    if names is None:
        keys = set(primary_key_columns(table))
        names = tuple(c.name for c in table.columns if c.name not in keys)
        _VALUE_COLUMNS[table] = names
    return names
