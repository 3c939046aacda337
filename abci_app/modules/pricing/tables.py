"""Tables of the pricing module."""

from sqlalchemy import BigInteger, Column, String, Table

from abci_app.store import METADATA

# One row per account that ever voted: its latest vote (Appendix J 4: it keeps counting
# until the voter changes it).
PRICE_VOTES = Table(
    "pricing_votes",
    METADATA,
    Column("voter", String, primary_key=True),
    Column("price_per_unit_nicoin", BigInteger, nullable=False),
    Column("height", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
)

# The price per unit of compute of each epoch; the newest row is the price in force.
PRICE_HISTORY = Table(
    "pricing_history",
    METADATA,
    Column("epoch", BigInteger, primary_key=True),
    Column("price_per_unit_nicoin", BigInteger, nullable=False),
    Column("start_height", BigInteger, nullable=False),
    Column("voters", BigInteger, nullable=False),
    Column("total_weight", String, nullable=False),
)

# ("current",) -> the epoch whose price is in force, so the price is one lookup.
PRICE_STATE = Table(
    "pricing_state",
    METADATA,
    Column("name", String, primary_key=True),
    Column("epoch", BigInteger, nullable=False),
    Column("price_per_unit_nicoin", BigInteger, nullable=False),
)

CURRENT_KEY = "current"
