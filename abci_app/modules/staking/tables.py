"""The staking module's tables: the validator set and updates queued for this block."""

from sqlalchemy import BigInteger, Column, LargeBinary, String, Table

from abci_app.store.schema import METADATA

VALIDATORS = Table(
    "staking_validators",
    METADATA,
    # CometBFT's validator address: SHA-256(ed25519 public key)[:20].
    Column("address", LargeBinary, primary_key=True),
    Column("pub_key", LargeBinary, nullable=False),
    Column("power", BigInteger, nullable=False),
    # The account that runs this validator (bech32), once linked.
    Column("operator", String, nullable=True),
)

# Written and drained within one FinalizeBlock; never non-empty at Commit.
PENDING_UPDATES = Table(
    "staking_pending_updates",
    METADATA,
    Column("pub_key", LargeBinary, primary_key=True),
    Column("power", BigInteger, nullable=False),
)
