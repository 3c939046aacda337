"""Tables of the gov module."""

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table

from abci_app.store import METADATA

PROPOSALS = Table(
    "gov_proposals",
    METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("proposer", String, nullable=False),
    Column("title", String, nullable=False),
    Column("summary", String, nullable=False),
    Column("kind", String, nullable=False),
    # race.v1.ProposalMessages, encoded: what the proposal executes if it passes.
    Column("messages", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    Column("submit_height", BigInteger, nullable=False),
    Column("deposit_end_height", BigInteger, nullable=False),
    Column("total_deposit_nicoin", BigInteger, nullable=False),
    Column("voting_start_height", BigInteger, nullable=False),
    Column("voting_end_height", BigInteger, nullable=False),
    # race.v1.TallyResult, encoded; empty until the voting period ends.
    Column("final_tally", LargeBinary, nullable=False),
    Column("execution_log", String, nullable=False),
)

DEPOSITS = Table(
    "gov_deposits",
    METADATA,
    Column("proposal_id", BigInteger, primary_key=True),
    Column("depositor", String, primary_key=True),
    Column("amount_nicoin", BigInteger, nullable=False),
)

VOTES = Table(
    "gov_votes",
    METADATA,
    Column("proposal_id", BigInteger, primary_key=True),
    Column("voter", String, primary_key=True),
    Column("option", Integer, nullable=False),
    Column("height", BigInteger, nullable=False),
)

# Deadlines by height: end_block reads only the rows of its own height (O(due proposals)).
DEADLINES = Table(
    "gov_deadlines",
    METADATA,
    Column("height", BigInteger, primary_key=True),
    Column("proposal_id", BigInteger, primary_key=True),
    # "deposit" or "voting": which period ends.
    Column("period", String, nullable=False),
)

# Refunds of closed proposals still being paid, by proposal id: a block refunds at most
# keeper.MAX_REFUNDS_PER_BLOCK deposits (docs/modules.md §13); the next block resumes at
# ``next_depositor`` ("" for the first).
REFUNDS = Table(
    "gov_refunds",
    METADATA,
    Column("proposal_id", BigInteger, primary_key=True),
    Column("next_depositor", String, nullable=False),
)

COUNTERS = Table(
    "gov_counters",
    METADATA,
    Column("name", String, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

NEXT_PROPOSAL_ID = "next_proposal_id"
