"""Tables of the race module. Roots are 32-byte hashes; consensus keys 32-byte ed25519."""

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table

from abci_app.store import METADATA

# ("current",) -> the cycle in progress.
STATE = Table(
    "race_state",
    METADATA,
    Column("name", String, primary_key=True),
    Column("current_cycle", BigInteger, nullable=False),
    # Cycles up to this one have had their rows pruned.
    Column("pruned_through", BigInteger, nullable=False),
)

STATE_KEY = "current"

CYCLES = Table(
    "race_cycles",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("status", Integer, nullable=False),
    Column("seed_round", BigInteger, nullable=False),
    Column("race_seed", LargeBinary, nullable=False),
    Column("race_start_height", BigInteger, nullable=False),
    Column("race_end_height", BigInteger, nullable=False),
    Column("commit_end_height", BigInteger, nullable=False),
    Column("sample_round", BigInteger, nullable=False),
    Column("sample_seed", LargeBinary, nullable=False),
    Column("opened_height", BigInteger, nullable=False),
    Column("open_end_height", BigInteger, nullable=False),
    Column("validation_end_height", BigInteger, nullable=False),
    Column("committed", BigInteger, nullable=False),
    Column("opened", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("caught", BigInteger, nullable=False),
    Column("total_weight", BigInteger, nullable=False),
    Column("attesting_weight", BigInteger, nullable=False),
    Column("outcome", Integer, nullable=False),
    # The params the cycle runs with, as canonical JSON, fixed when it is created.
    Column("params", String, nullable=False),
)

PROVIDERS = Table(
    "race_providers",
    METADATA,
    Column("operator", String, primary_key=True),
    Column("consensus_pub_key", LargeBinary, nullable=False),
    Column("sidecar_identity", String, nullable=False),
    Column("registered_height", BigInteger, nullable=False),
    Column("first_cycle", BigInteger, nullable=False),
)

# Uniqueness: a consensus key, and a sidecar, belong to one provider.
PROVIDER_KEYS = Table(
    "race_provider_keys",
    METADATA,
    Column("consensus_pub_key", LargeBinary, primary_key=True),
    Column("operator", String, nullable=False),
)

PROVIDER_SIDECARS = Table(
    "race_provider_sidecars",
    METADATA,
    Column("sidecar_identity", String, primary_key=True),
    Column("operator", String, nullable=False),
)

# One node's part in one cycle.
ENTRIES = Table(
    "race_entries",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("operator", String, primary_key=True),
    Column("status", Integer, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("commit_height", BigInteger, nullable=False),
    Column("samples", BigInteger, nullable=False),
    Column("opened_samples", BigInteger, nullable=False),
    # Index in the cycle's attestation bitmaps; -1 until the opening window closes.
    Column("validation_index", BigInteger, nullable=False),
    Column("pass_weight", BigInteger, nullable=False),
    Column("fail_weight", BigInteger, nullable=False),
    Column("new_power", BigInteger, nullable=False),
    Column("reason", String, nullable=False),
)

# The opened leaves of the cycle in progress; deleted when it closes.
OPENINGS = Table(
    "race_openings",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("operator", String, primary_key=True),
    Column("sample", BigInteger, primary_key=True),
    Column("rank", BigInteger, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("distance_scaled", BigInteger, nullable=False),
)

# (cycle, validation index) -> operator: who each bitmap position stands for.
VALIDATION_ORDER = Table(
    "race_validation_order",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("operator", String, nullable=False),
)

ATTESTATIONS = Table(
    "race_attestations",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("attester", String, primary_key=True),
    Column("weight", BigInteger, nullable=False),
    Column("height", BigInteger, nullable=False),
    Column("passed", LargeBinary, nullable=False),
    Column("failed", LargeBinary, nullable=False),
)

# The cycle in validation: weight attesting pass and fail per bitmap position, each an
# array of big-endian uint64 (one write per attestation, whatever the number of nodes).
TALLIES = Table(
    "race_tallies",
    METADATA,
    Column("cycle", BigInteger, primary_key=True),
    Column("pass_weights", LargeBinary, nullable=False),
    Column("fail_weights", LargeBinary, nullable=False),
)

RECORDS = Table(
    "race_records",
    METADATA,
    Column("operator", String, primary_key=True),
    Column("committed", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("caught", BigInteger, nullable=False),
    Column("last_caught_cycle", BigInteger, nullable=False),
    Column("last_caught_reason", String, nullable=False),
)
