"""Tables of the inference module."""

from sqlalchemy import BigInteger, Column, LargeBinary, String, Table

from abci_app.store import METADATA

# key_hash (SHA-256 of the secret) -> the key's budget in escrow and its life.
KEYS = Table(
    "inference_keys",
    METADATA,
    Column("key_hash", LargeBinary, primary_key=True),
    Column("owner", String, nullable=False),
    Column("budget", BigInteger, nullable=False),
    Column("spent", BigInteger, nullable=False),
    Column("created_height", BigInteger, nullable=False),
    # Last height a ticket may be signed at; 0 for no expiry.
    Column("expires_height", BigInteger, nullable=False),
    # Allowed registry ids, comma-separated and sorted; "" for every model.
    Column("models", String, nullable=False),
    Column("revoked_height", BigInteger, nullable=False),
    # When the unspent budget is refunded and the row removed; 0 for never (yet).
    Column("closes_height", BigInteger, nullable=False),
    Column("settled_tickets", BigInteger, nullable=False),
)

# (owner, key_hash): an account's keys, for listing and the per-owner limit.
KEYS_BY_OWNER = Table(
    "inference_keys_by_owner",
    METADATA,
    Column("owner", String, primary_key=True),
    Column("key_hash", LargeBinary, primary_key=True),
    Column("created_height", BigInteger, nullable=False),
)

# (height, key_hash): keys whose refund falls due at height.
CLOSINGS = Table(
    "inference_closings",
    METADATA,
    Column("height", BigInteger, primary_key=True),
    Column("key_hash", LargeBinary, primary_key=True),
    Column("owner", String, nullable=False),
)

# (model, provider) -> where the provider's executor service listens.
PROVIDERS = Table(
    "inference_providers",
    METADATA,
    Column("model", String, primary_key=True),
    Column("provider", String, primary_key=True),
    Column("endpoint", String, nullable=False),
    Column("since_height", BigInteger, nullable=False),
)

# relay ed25519 public key -> the account its share goes to.
RELAYS = Table(
    "inference_relays",
    METADATA,
    Column("public_key", LargeBinary, primary_key=True),
    Column("owner", String, nullable=False),
    Column("registered_height", BigInteger, nullable=False),
)

# (ticket height, request id) -> what it was charged: a ticket settles once. Kept until
# its validity window has passed, then pruned.
SETTLED = Table(
    "inference_settled",
    METADATA,
    Column("height", BigInteger, primary_key=True),
    Column("request_id", LargeBinary, primary_key=True),
    Column("charged", BigInteger, nullable=False),
)

# Cursors: "closings_backlog" and "prune_backlog" (the height to resume from when a
# block's work limit was reached), "prune_validity" (the ticket validity window pruning
# last ran with), "prune_floor" (the highest height any settled record was pruned at:
# tickets at or below it can no longer settle). Absent means 0.
STATE = Table(
    "inference_state",
    METADATA,
    Column("name", String, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

