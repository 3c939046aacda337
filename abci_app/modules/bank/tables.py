"""The bank module's tables: balances (nicoin) and the total supply."""

from sqlalchemy import BigInteger, Column, String, Table

from abci_app.store.schema import METADATA

# Zero balances are deleted, so state holds only accounts with coins.
BALANCES = Table(
    "bank_balances",
    METADATA,
    Column("address", String, primary_key=True),
    Column("amount", BigInteger, nullable=False),
)

SUPPLY = Table(
    "bank_supply",
    METADATA,
    Column("denom", String, primary_key=True),
    Column("amount", BigInteger, nullable=False),
)
