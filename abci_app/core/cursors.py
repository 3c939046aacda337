"""Integer cursors and counters kept in a module's state table, one row per name.

A module's ``*_state`` table has a ``name`` primary key and a ``value`` column. A value of 0
is the absent row: writing 0 deletes it, and reading a missing name gives 0, so a cursor
that never moved takes no space and adds nothing to the app hash. An unchanged value is not
rewritten.

``value`` is a BigInteger column, or a String column where a value may outgrow 64 bits
(the rewards module's supply counters); a String column stores the decimal text. The
encoding follows the table's own column type, so every row is stored as it always was.
"""

from __future__ import annotations

from sqlalchemy import String, Table

from abci_app.core.context import Context


def get(ctx: Context, table: Table, name: str) -> int:
    """The value of ``name`` in ``table`` (0 when absent)."""
    row = ctx.table(table).get(name)
    return 0 if row is None else int(row["value"])


def put(ctx: Context, table: Table, name: str, value: int) -> None:
    """Write ``name``'s value (0 removes the row); an unchanged value is not rewritten."""
    if get(ctx, table, name) == value:
        return
    view = ctx.table(table)
    if not value:
        view.delete(name)
    elif isinstance(table.c["value"].type, String):
        view.put(name, {"value": str(value)})
    else:
        view.put(name, {"value": value})
