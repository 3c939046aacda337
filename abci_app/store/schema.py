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


def primary_key_columns(table: Table) -> tuple[str, ...]:
    """Names of the table's primary-key columns in declaration order."""
    return tuple(c.name for c in table.primary_key.columns)


def value_columns(table: Table) -> tuple[str, ...]:
    """Names of the table's non-key columns in declaration order."""
    keys = set(primary_key_columns(table))
    return tuple(c.name for c in table.columns if c.name not in keys)
