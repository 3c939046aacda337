"""The validator set and voting weight (DESIGN.md §5.6: weight becomes validator power).

Validator power changes go through :func:`set_power`, which updates the app's view at
once and queues a ``ValidatorUpdate`` that FinalizeBlock returns to CometBFT (applied by
CometBFT from height H+2). Voting weight for governance and pricing is validator power.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from abci_app.core.context import Context
from abci_app.modules.staking.errors import (
    EMPTY_VALIDATOR_SET,
    INVALID_POWER,
    INVALID_PUB_KEY,
    UNKNOWN_VALIDATOR,
)
from abci_app.modules.staking.tables import PENDING_UPDATES, VALIDATORS

ED25519_KEY_BYTES = 32
# CometBFT refuses a total voting power above MaxInt64 / 8.
MAX_TOTAL_POWER = (2**63 - 1) // 8


@dataclass(frozen=True)
class Validator:
    """One member of the validator set."""

    address: bytes
    pub_key: bytes
    power: int
    operator: str | None


def consensus_address(pub_key: bytes) -> bytes:
    """CometBFT's address of an ed25519 validator key: SHA-256(key)[:20]."""
    if len(pub_key) != ED25519_KEY_BYTES:
        raise INVALID_PUB_KEY(f"ed25519 keys are {ED25519_KEY_BYTES} bytes, got {len(pub_key)}")
    return hashlib.sha256(pub_key).digest()[:20]


def _row_to_validator(address: bytes, row: dict) -> Validator:
    return Validator(address, row["pub_key"], row["power"], row["operator"])


def get_validator(ctx: Context, address: bytes) -> Validator | None:
    """The validator with this consensus address, or None."""
    row = ctx.table(VALIDATORS).get(address)
    return None if row is None else _row_to_validator(address, row)


def validators(ctx: Context) -> list[Validator]:
    """The whole set (power > 0), sorted by consensus address."""
    return [_row_to_validator(key[0], row) for key, row in ctx.table(VALIDATORS).scan()]


def voting_power(ctx: Context, address: bytes) -> int:
    """A validator's power by consensus address (0 if not a validator)."""
    row = ctx.table(VALIDATORS).get(address)
    return 0 if row is None else row["power"]


def voting_power_of_account(ctx: Context, account: str) -> int:
    """The summed power of the validators this account operates (0 if none)."""
    return sum(v.power for v in validators(ctx) if v.operator == account)


def voting_weights(ctx: Context) -> list[tuple[bytes, int]]:
    """(consensus address, power) for every validator, sorted by address."""
    return [(v.address, v.power) for v in validators(ctx)]


def total_voting_power(ctx: Context) -> int:
    """Sum of all validators' power."""
    return sum(v.power for v in validators(ctx))


def set_power(ctx: Context, pub_key: bytes, power: int) -> None:
    """Change (or add, or with 0 remove) a validator; CometBFT learns it from this block."""
    address = consensus_address(pub_key)
    if power < 0:
        raise INVALID_POWER(f"power must not be negative, got {power}")
    table = ctx.table(VALIDATORS)
    current = table.get(address)
    old_power = 0 if current is None else current["power"]
    new_total = total_voting_power(ctx) - old_power + power
    if new_total <= 0:
        raise EMPTY_VALIDATOR_SET("the update would leave no validator with power")
    if new_total > MAX_TOTAL_POWER:
        raise INVALID_POWER(f"total power {new_total} exceeds CometBFT's {MAX_TOTAL_POWER}")
    if power == 0:
        table.delete(address)
    else:
        operator = None if current is None else current["operator"]
        table.put(address, {"pub_key": pub_key, "power": power, "operator": operator})
    if power != old_power:
        ctx.table(PENDING_UPDATES).put(pub_key, {"power": power})
        ctx.emit("validator_power", address=address, power=power)


def set_operator(ctx: Context, pub_key: bytes, account: str) -> None:
    """Link a validator key to the account that runs it."""
    address = consensus_address(pub_key)
    table = ctx.table(VALIDATORS)
    row = table.get(address)
    if row is None:
        raise UNKNOWN_VALIDATOR(f"no validator with key {pub_key.hex()}")
    table.put(address, {**row, "operator": account})


def import_genesis_validators(ctx: Context, genesis: list[tuple[bytes, int]]) -> None:
    """The set CometBFT's genesis.json names (InitChain); no update is queued for them."""
    table = ctx.table(VALIDATORS)
    for pub_key, power in genesis:
        if power <= 0:
            raise INVALID_POWER(f"genesis validator {pub_key.hex()} has power {power}")
        row = {"pub_key": pub_key, "power": power, "operator": None}
        table.put(consensus_address(pub_key), row)


def take_validator_updates(ctx: Context) -> list[tuple[bytes, int]]:
    """Drain this block's queued updates, sorted by public key, for FinalizeBlock's response."""
    pending = ctx.table(PENDING_UPDATES)
    updates = [(key[0], row["power"]) for key, row in pending.scan()]
    for pub_key, _ in updates:
        pending.delete(pub_key)
    return updates
