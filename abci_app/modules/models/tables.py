"""Tables of the models module."""

from sqlalchemy import BigInteger, Column, Integer, String, Table

from abci_app.store import METADATA

MODELS = Table(
    "models_registry",
    METADATA,
    Column("id", String, primary_key=True),
    Column("hf_repo", String, nullable=False),
    Column("revision", String, nullable=False),
    Column("units_of_compute_per_token", BigInteger, nullable=False),
    Column("max_context", BigInteger, nullable=False),
    Column("validation_threshold_ppm", BigInteger, nullable=False),
    Column("owner", String, nullable=False),
    Column("status", Integer, nullable=False),
    Column("proposal_id", BigInteger, nullable=False),
    Column("updated_height", BigInteger, nullable=False),
)
