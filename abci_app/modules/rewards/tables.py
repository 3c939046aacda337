"""Tables of the rewards module (docs/rewards.md, "State").

Node identity is the operator account (bech32), as in the race and inference modules.
"""

from sqlalchemy import BigInteger, Boolean, Column, String, Table

from abci_app.store import METADATA

# name -> a decimal integer (tokenomics progress and cursors; some totals outgrow 64 bits).
STATE = Table(
    "rewards_state",
    METADATA,
    Column("name", String, primary_key=True),
    Column("value", String, nullable=False),
)

# One row per batch of the core incentive that has received anything.
BATCHES = Table(
    "rewards_batches",
    METADATA,
    Column("batch", BigInteger, primary_key=True),
    Column("fees", BigInteger, nullable=False),
    Column("fee_minted", BigInteger, nullable=False),
    Column("minimum_minted", BigInteger, nullable=False),
    # 0 until the batch has minted all of its coins.
    Column("completed_height", BigInteger, nullable=False),
    Column("completed_time_ns", BigInteger, nullable=False),
)

# (cycle, node, kind) -> nicoin held in escrow until the cycle's release.
HELD = Table(
    "rewards_held",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("node", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("amount", BigInteger, nullable=False),
)

# (cycle, node) -> what the release rules read, and what the release did.
CYCLE_NODES = Table(
    "rewards_cycle_nodes",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("node", String, primary_key=True),
    # Voting weight during the cycle (snapshotted at its start).
    Column("weight", BigInteger, nullable=False),
    Column("tasks", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("drawn", BigInteger, nullable=False),
    Column("done", BigInteger, nullable=False),
    Column("false_flags", BigInteger, nullable=False),
    Column("caught", Boolean, nullable=False),
    Column("caught_reason", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("released", BigInteger, nullable=False),
    Column("forfeited", BigInteger, nullable=False),
)

# cycle -> the cycle's totals, its verification pool, and whether it is released.
CYCLES = Table(
    "rewards_cycles",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("weight", BigInteger, nullable=False),
    Column("tasks", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("fees", BigInteger, nullable=False),
    Column("issuance", BigInteger, nullable=False),
    Column("minimum_issuance", BigInteger, nullable=False),
    Column("accrued", BigInteger, nullable=False),
    # Verifiers' shares of the cycle's fees and issuance, divided at release by checks done.
    Column("verification_pool", BigInteger, nullable=False),
    Column("released", BigInteger, nullable=False),
    Column("forfeited", BigInteger, nullable=False),
    Column("bounties", BigInteger, nullable=False),
    Column("release_height", BigInteger, nullable=False),
)

# node -> reputation (clean cycles since its last catch) and its record.
REPUTATION = Table(
    "rewards_reputation",
    METADATA,
    Column("node", String, primary_key=True),
    Column("reputation", BigInteger, nullable=False),
    Column("clean_cycles", BigInteger, nullable=False),
    Column("caught_cycles", BigInteger, nullable=False),
    Column("last_caught_cycle", BigInteger, nullable=False),
    Column("false_flags", BigInteger, nullable=False),
    # Lapses recorded for cycles already released: applied at the node's next release.
    Column("pending_lapses", BigInteger, nullable=False),
)

# (cycle, reporter) -> bounties paid to the reporter for the cycle.
BOUNTIES = Table(
    "rewards_bounties",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("reporter", String, primary_key=True),
    Column("paid", BigInteger, nullable=False),
)
