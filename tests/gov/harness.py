"""The gov, pricing and models tests use the shared in-process chain (tests/harness.py)."""

from tests.harness import CHAIN_ID, ICOIN, Chain, Event, Outcome, account, validator_key

__all__ = ["CHAIN_ID", "ICOIN", "Chain", "Event", "Outcome", "account", "validator_key"]
