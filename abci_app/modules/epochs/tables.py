"""The epochs module's one table: the epoch the chain is in."""

from sqlalchemy import BigInteger, Column, String, Table

from abci_app.store import METADATA

CURRENT_EPOCH = Table(
    "epochs_current",
    METADATA,
    Column("name", String, primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("start_height", BigInteger, nullable=False),
    Column("end_height", BigInteger, nullable=False),
    Column("length_blocks", BigInteger, nullable=False),
)

CURRENT_KEY = "current"
