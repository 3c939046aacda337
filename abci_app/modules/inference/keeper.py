"""State access of the inference module: the only code that touches its tables.

Invariant (checked by :func:`broken_invariants`): the escrow module account holds exactly
the sum over API keys of ``budget - spent``. Coins enter escrow when a key is created or
topped up, and leave it only to pay a settled ticket's shares or to refund a closed key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from abci_app.core import cursors
from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.epochs import weights
from abci_app.modules.inference.tables import (
    CLOSINGS,
    KEYS,
    KEYS_BY_OWNER,
    PROVIDERS,
    RELAYS,
    SETTLED,
    STATE,
)
from abci_app.tx.keys import module_address
from race_protocol.gen.race.v1 import inference_pb2

ESCROW_MODULE_ACCOUNT = "inference_escrow"
ACTIVE = inference_pb2.API_KEY_STATUS_ACTIVE
REVOKED = inference_pb2.API_KEY_STATUS_REVOKED
EXPIRED = inference_pb2.API_KEY_STATUS_EXPIRED
# Cursors (inference_state), each written only when it changes, so a block in which
# nothing happens writes nothing.
CLOSINGS_BACKLOG = "closings_backlog"
PRUNE_BACKLOG = "prune_backlog"
PRUNE_VALIDITY = "prune_validity"
PRUNE_FLOOR = "prune_floor"
CURSORS = (CLOSINGS_BACKLOG, PRUNE_BACKLOG, PRUNE_VALIDITY, PRUNE_FLOOR)


@cache
def escrow_address() -> str:
    """The API keys' escrow module account: derived from its name, no key signs for it."""
    return module_address(ESCROW_MODULE_ACCOUNT)


# --- cursors ------------------------------------------------------------------------------

def state_value(ctx: Context, name: str) -> int:
    return cursors.get(ctx, STATE, name)


def set_state_value(ctx: Context, name: str, value: int) -> None:
    """Write a cursor (0 removes it); an unchanged one is not rewritten."""
    cursors.put(ctx, STATE, name, value)


# --- API keys -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ApiKeyEntry:
    """One key's record (``race.v1.ApiKey``)."""

    key_hash: bytes
    owner: str
    budget: int
    spent: int
    created_height: int
    expires_height: int
    models: tuple[str, ...]
    revoked_height: int
    closes_height: int
    settled_tickets: int

    @property
    def remaining(self) -> int:
        return self.budget - self.spent

    def status(self, height: int) -> int:
        """Revoked, expired (past its last ticket height), or active at ``height``."""
        if self.revoked_height:
            return REVOKED
        if self.expires_height and height > self.expires_height:
            return EXPIRED
        return ACTIVE

    def accepts_ticket_height(self, ticket_height: int) -> bool:
        """Whether a ticket signed at ``ticket_height`` may charge this key: signed before
        the revocation's block and no later than the expiry height."""
        if self.revoked_height and ticket_height >= self.revoked_height:
            return False
        return not (self.expires_height and ticket_height > self.expires_height)

    def allows_model(self, model: str) -> bool:
        return not self.models or model in self.models

    def as_json(self, height: int) -> dict[str, Any]:
        """The proto3 JSON form of ``race.v1.ApiKey``."""
        return {
            "key_hash": self.key_hash.hex(),
            "owner": self.owner,
            "budget_nicoin": str(self.budget),
            "spent_nicoin": str(self.spent),
            "remaining_nicoin": str(self.remaining),
            "created_height": str(self.created_height),
            "expires_height": str(self.expires_height),
            "models": list(self.models),
            "status": inference_pb2.ApiKeyStatus.Name(self.status(height)),
            "revoked_height": str(self.revoked_height),
            "closes_height": str(self.closes_height),
            "settled_tickets": str(self.settled_tickets),
        }


def _key_entry(key_hash: bytes, row: dict[str, Any]) -> ApiKeyEntry:
    models = tuple(m for m in row["models"].split(",") if m)
    return ApiKeyEntry(key_hash=key_hash, owner=row["owner"], budget=row["budget"],
                       spent=row["spent"], created_height=row["created_height"],
                       expires_height=row["expires_height"], models=models,
                       revoked_height=row["revoked_height"],
                       closes_height=row["closes_height"],
                       settled_tickets=row["settled_tickets"])


def get_key(ctx: Context, key_hash: bytes) -> ApiKeyEntry | None:
    row = ctx.table(KEYS).get(key_hash)
    return None if row is None else _key_entry(key_hash, row)


def put_key(ctx: Context, entry: ApiKeyEntry) -> None:
    """Write a key's record (and its owner index entry when it is new)."""
    keys = ctx.table(KEYS)
    if not keys.has(entry.key_hash):
        ctx.table(KEYS_BY_OWNER).put((entry.owner, entry.key_hash),
                                     {"created_height": entry.created_height})
    keys.put(entry.key_hash, {
        "owner": entry.owner, "budget": entry.budget, "spent": entry.spent,
        "created_height": entry.created_height, "expires_height": entry.expires_height,
        "models": ",".join(entry.models), "revoked_height": entry.revoked_height,
        "closes_height": entry.closes_height, "settled_tickets": entry.settled_tickets,
    })


def delete_key(ctx: Context, entry: ApiKeyEntry) -> None:
    ctx.table(KEYS).delete(entry.key_hash)
    ctx.table(KEYS_BY_OWNER).delete((entry.owner, entry.key_hash))


def keys_of(ctx: Context, owner: str) -> list[ApiKeyEntry]:
    """An account's keys, by hash."""
    found = []
    for key, _row in ctx.table(KEYS_BY_OWNER).scan(owner):
        entry = get_key(ctx, key[1])
        if entry is not None:
            found.append(entry)
    return found


def count_keys_of(ctx: Context, owner: str) -> int:
    return sum(1 for _ in ctx.table(KEYS_BY_OWNER).scan(owner))


def all_keys(ctx: Context) -> list[ApiKeyEntry]:
    return [_key_entry(key[0], row) for key, row in ctx.table(KEYS).scan()]


def schedule_closing(ctx: Context, entry: ApiKeyEntry, height: int) -> ApiKeyEntry:
    """Move the key's refund to ``height`` (replacing any earlier schedule)."""
    if entry.closes_height:
        ctx.table(CLOSINGS).delete((entry.closes_height, entry.key_hash))
    ctx.table(CLOSINGS).put((height, entry.key_hash), {"owner": entry.owner})
    return replace(entry, closes_height=height)


def due_closings(ctx: Context, height: int) -> Iterator[tuple[int, bytes]]:
    """(height, key hash) of the refunds scheduled at ``height``, by key hash."""
    for key, _row in ctx.table(CLOSINGS).scan(height):
        yield key[0], key[1]


def drop_closing(ctx: Context, height: int, key_hash: bytes) -> None:
    ctx.table(CLOSINGS).delete((height, key_hash))


# --- providers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Serving:
    """A provider serving a model."""

    model: str
    provider: str
    endpoint: str
    since_height: int


def get_serving(ctx: Context, model: str, provider: str) -> Serving | None:
    row = ctx.table(PROVIDERS).get((model, provider))
    return None if row is None else Serving(model, provider, **row)


def put_serving(ctx: Context, entry: Serving) -> None:
    ctx.table(PROVIDERS).put((entry.model, entry.provider),
                             {"endpoint": entry.endpoint, "since_height": entry.since_height})


def delete_serving(ctx: Context, model: str, provider: str) -> None:
    ctx.table(PROVIDERS).delete((model, provider))


def all_serving(ctx: Context) -> list[Serving]:
    return [Serving(key[0], key[1], **row) for key, row in ctx.table(PROVIDERS).scan()]


def weighted_providers(ctx: Context, model: str) -> list[tuple[Serving, int]]:
    """The providers of ``model`` with voting weight, by address: the executor draw's
    candidates (DESIGN.md section 7.2: drawn by weight). Bounded by the validator set."""
    by_operator: dict[str, int] = {}
    for operator, weight in weights.weighted_voters(ctx):
        if operator is not None:
            by_operator[operator] = by_operator.get(operator, 0) + weight
    found = []
    for operator in sorted(by_operator):
        serving = get_serving(ctx, model, operator)
        if serving is not None:
            found.append((serving, by_operator[operator]))
    return found


# --- relays -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RelayEntry:
    public_key: bytes
    owner: str
    registered_height: int

    def as_json(self) -> dict[str, str]:
        return {"public_key": self.public_key.hex(), "owner": self.owner,
                "registered_height": str(self.registered_height)}


def get_relay(ctx: Context, public_key: bytes) -> RelayEntry | None:
    row = ctx.table(RELAYS).get(public_key)
    return None if row is None else RelayEntry(public_key, **row)


def put_relay(ctx: Context, entry: RelayEntry) -> None:
    ctx.table(RELAYS).put(entry.public_key, {"owner": entry.owner,
                                             "registered_height": entry.registered_height})


def delete_relay(ctx: Context, public_key: bytes) -> None:
    ctx.table(RELAYS).delete(public_key)


def all_relays(ctx: Context) -> list[RelayEntry]:
    return [RelayEntry(key[0], **row) for key, row in ctx.table(RELAYS).scan()]


# --- settled tickets ----------------------------------------------------------------------

def settled_charge(ctx: Context, height: int, request_id: bytes) -> int | None:
    """What the ticket (height, request id) was charged, or None if it is not settled."""
    row = ctx.table(SETTLED).get((height, request_id))
    return None if row is None else int(row["charged"])


def record_settled(ctx: Context, height: int, request_id: bytes, charged: int) -> None:
    ctx.table(SETTLED).put((height, request_id), {"charged": charged})


def settled_at(ctx: Context, height: int) -> Iterator[bytes]:
    for key, _row in ctx.table(SETTLED).scan(height):
        yield key[1]


def drop_settled(ctx: Context, height: int, request_id: bytes) -> None:
    ctx.table(SETTLED).delete((height, request_id))


def all_settled(ctx: Context) -> list[tuple[int, bytes, int]]:
    return [(key[0], key[1], int(row["charged"])) for key, row in ctx.table(SETTLED).scan()]


# --- the invariant ------------------------------------------------------------------------

def broken_invariants(ctx: Context) -> list[str]:
    """Escrow holds exactly what the keys have left; no key has spent past its budget."""
    broken = []
    keys = all_keys(ctx)
    owed = sum(entry.remaining for entry in keys)
    held = bank.balance(ctx, escrow_address())
    if held != owed:
        broken.append(f"escrow holds {held} nicoin but keys have {owed} left")
    overspent = [entry.key_hash.hex() for entry in keys if entry.spent > entry.budget]
    if overspent:
        broken.append(f"keys spent past their budget: {overspent}")
    return broken
