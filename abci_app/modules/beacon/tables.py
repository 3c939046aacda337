"""Tables of the beacon module. Points and scalars are stored as their 32-byte encodings;
a deal's points are concatenated in index order."""

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table

from abci_app.store import METADATA

# ("current",) -> the round in progress and the chain of outputs.
STATE = Table(
    "beacon_state",
    METADATA,
    Column("name", String, primary_key=True),
    # The round in progress, 0 when none is open.
    Column("current_round", BigInteger, nullable=False),
    # The id the next round takes.
    Column("next_round", BigInteger, nullable=False),
    # The latest final round (0: none yet) and its output (the genesis value before any).
    Column("final_round", BigInteger, nullable=False),
    Column("final_output", LargeBinary, nullable=False),
    # Rows of rounds up to this one have been pruned.
    Column("pruned_through", BigInteger, nullable=False),
    # The value before the first round (round 0), kept for output_for_round(0).
    Column("genesis_output", LargeBinary, nullable=False),
)

STATE_KEY = "current"

ROUNDS = Table(
    "beacon_rounds",
    METADATA,
    Column("round", BigInteger, primary_key=True),
    Column("status", Integer, nullable=False),
    Column("start_height", BigInteger, nullable=False),
    Column("commit_end_height", BigInteger, nullable=False),
    Column("reveal_end_height", BigInteger, nullable=False),
    Column("end_height", BigInteger, nullable=False),
    Column("total_units", BigInteger, nullable=False),
    Column("threshold_units", BigInteger, nullable=False),
    Column("total_weight", BigInteger, nullable=False),
    Column("participants", BigInteger, nullable=False),
    Column("dealt", BigInteger, nullable=False),
    Column("revealed", BigInteger, nullable=False),
    Column("recovered", BigInteger, nullable=False),
    Column("excluded", BigInteger, nullable=False),
    Column("unrecovered", BigInteger, nullable=False),
    # Empty until the round is final.
    Column("output", LargeBinary, nullable=False),
)

PARTICIPANTS = Table(
    "beacon_participants",
    METADATA,
    Column("round", BigInteger, primary_key=True),
    Column("address", String, primary_key=True),
    Column("weight", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("first_index", BigInteger, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    # σ = s·H once revealed or recovered, else empty.
    Column("contribution", LargeBinary, nullable=False),
)

# Accepted deals of the round in progress; deleted when the round ends.
DEALS = Table(
    "beacon_deals",
    METADATA,
    Column("round", BigInteger, primary_key=True),
    Column("dealer", String, primary_key=True),
    Column("commitments", LargeBinary, nullable=False),
    Column("encrypted_shares", LargeBinary, nullable=False),
    # Share units posted for recovery so far.
    Column("shares_posted", BigInteger, nullable=False),
)

# Checked decrypted shares of a withheld secret, until it is recovered or the round ends.
SHARES = Table(
    "beacon_shares",
    METADATA,
    Column("round", BigInteger, primary_key=True),
    Column("dealer", String, primary_key=True),
    Column("share_index", BigInteger, primary_key=True),
    Column("share", LargeBinary, nullable=False),
)

KEYS = Table(
    "beacon_keys",
    METADATA,
    Column("operator", String, primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("proof", LargeBinary, nullable=False),
    Column("registered_height", BigInteger, nullable=False),
)

RECORDS = Table(
    "beacon_records",
    METADATA,
    Column("address", String, primary_key=True),
    Column("rounds", BigInteger, nullable=False),
    Column("missed_deals", BigInteger, nullable=False),
    Column("missed_reveals", BigInteger, nullable=False),
    Column("last_missed_round", BigInteger, nullable=False),
)
