"""The auth module's table: one row per account that ever held coins."""

from sqlalchemy import BigInteger, Column, LargeBinary, String, Table

from abci_app.store.schema import METADATA

ACCOUNTS = Table(
    "auth_accounts",
    METADATA,
    Column("address", String, primary_key=True),
    # Known once the account signs its first tx.
    Column("public_key", LargeBinary, nullable=True),
    # Number of txs this account has had included; the next tx must carry it.
    Column("sequence", BigInteger, nullable=False),
)
