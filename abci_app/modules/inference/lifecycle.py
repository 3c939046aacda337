"""API keys, providers and relays: the rules of their lifecycle (whitepaper section 7;
DESIGN.md section 7.1; docs/inference.md, "API keys").

* A key's budget moves from its owner into escrow when it is created or topped up.
* Tickets are off chain until settled, so the chain cannot know what an active key has
  reserved. A revoked key stops accepting tickets signed from the revocation's block on;
  an expiring key accepts tickets signed up to its expiry height. Either way what is left
  is refunded ``ticket_validity_blocks`` later, when no ticket it accepted can still be
  settled, and the record is removed.
* A provider serves only active registry models; the agent sends what its sidecar loaded.
* A relay key is registered with its own signature over the registration bytes, so no
  one can register (and collect the relay share of) someone else's key.
"""

from __future__ import annotations

from collections.abc import Sequence

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.inference import keeper
from abci_app.modules.inference.errors import (
    BAD_RELAY_PROOF,
    INVALID_BUDGET,
    INVALID_EXPIRY,
    INVALID_MODELS,
    KEY_EXISTS,
    KEY_NOT_ACTIVE,
    KEY_NOT_FOUND,
    MODEL_NOT_SERVABLE,
    NOT_KEY_OWNER,
    NOT_RELAY_OWNER,
    NOT_SERVING,
    RELAY_EXISTS,
    RELAY_NOT_FOUND,
    TOO_MANY_KEYS,
)
from abci_app.modules.inference.keeper import ApiKeyEntry, RelayEntry, Serving
from abci_app.modules.models import keeper as models
from race_protocol.inference.ticket import relay_registration_bytes, verify_signature

# --- API keys -----------------------------------------------------------------------------

def check_models(ctx: Context, model_ids: Sequence[str]) -> tuple[str, ...]:
    """A key's model list: within the limit, no repeats, each an active registry model."""
    limit = ctx.params("inference").max_models_per_key
    if len(model_ids) > limit:
        raise INVALID_MODELS(f"{len(model_ids)} models; a key may name at most {limit}")
    if len(set(model_ids)) != len(model_ids):
        raise INVALID_MODELS("a model is listed twice")
    for model_id in model_ids:
        entry = models.get_model(ctx, model_id)
        if entry is None or entry.status != models.ACTIVE:
            raise INVALID_MODELS(f"{model_id!r} is not an active registry model; see "
                                 "`race models list`")
    return tuple(sorted(model_ids))


def create_key(ctx: Context, owner: str, key_hash: bytes, budget: int,
               expires_in_blocks: int, model_ids: Sequence[str]) -> ApiKeyEntry:
    """Escrow ``budget`` from ``owner`` for a new key (DESIGN.md 7.1)."""
    params = ctx.params("inference")
    if budget < params.min_key_budget_nicoin:
        raise INVALID_BUDGET(f"budget {budget} nicoin is below min_key_budget_nicoin "
                             f"({params.min_key_budget_nicoin})")
    if expires_in_blocks > params.max_key_expiry_blocks:
        raise INVALID_EXPIRY(f"expires_in_blocks {expires_in_blocks} is above "
                             f"max_key_expiry_blocks ({params.max_key_expiry_blocks})")
    allowed = check_models(ctx, model_ids)
    if keeper.get_key(ctx, key_hash) is not None:
        raise KEY_EXISTS(f"a key with hash {key_hash.hex()} exists; make a new secret")
    if keeper.count_keys_of(ctx, owner) >= params.max_keys_per_owner:
        raise TOO_MANY_KEYS(f"{owner} holds {params.max_keys_per_owner} keys, the most "
                            "max_keys_per_owner allows; revoke one first")
    bank.send(ctx, owner, keeper.escrow_address(), budget)
    height = ctx.block.height
    entry = ApiKeyEntry(key_hash=key_hash, owner=owner, budget=budget, spent=0,
                        created_height=height,
                        expires_height=height + expires_in_blocks if expires_in_blocks else 0,
                        models=allowed, revoked_height=0, closes_height=0, settled_tickets=0)
    if entry.expires_height:
        entry = keeper.schedule_closing(
            ctx, entry, entry.expires_height + params.ticket_validity_blocks + 1)
    keeper.put_key(ctx, entry)
    ctx.emit("api_key_created", key_hash=key_hash, owner=owner, budget_nicoin=budget,
             expires_height=entry.expires_height)
    return entry


def owned_key(ctx: Context, owner: str, key_hash: bytes) -> ApiKeyEntry:
    """The key, when ``owner`` owns it; KEY_NOT_FOUND or NOT_KEY_OWNER otherwise."""
    entry = keeper.get_key(ctx, key_hash)
    if entry is None:
        raise KEY_NOT_FOUND(f"no API key with hash {key_hash.hex()}")
    if entry.owner != owner:
        raise NOT_KEY_OWNER(f"key {key_hash.hex()} belongs to {entry.owner}")
    return entry


def top_up_key(ctx: Context, owner: str, key_hash: bytes, amount: int) -> ApiKeyEntry:
    """Escrow ``amount`` more for an active key."""
    entry = owned_key(ctx, owner, key_hash)
    if entry.status(ctx.block.height) != keeper.ACTIVE:
        raise KEY_NOT_ACTIVE(f"key {key_hash.hex()} is revoked or expired; create a new one")
    if amount < 1:
        raise INVALID_BUDGET("a top-up must be at least 1 nicoin")
    bank.send(ctx, owner, keeper.escrow_address(), amount)
    entry = ApiKeyEntry(**{**entry.__dict__, "budget": entry.budget + amount})
    keeper.put_key(ctx, entry)
    ctx.emit("api_key_topped_up", key_hash=key_hash, amount_nicoin=amount,
             budget_nicoin=entry.budget)
    return entry


def revoke_key(ctx: Context, owner: str, key_hash: bytes) -> ApiKeyEntry:
    """Stop the key now; refund what is left once its tickets can no longer settle."""
    entry = owned_key(ctx, owner, key_hash)
    height = ctx.block.height
    if entry.status(height) != keeper.ACTIVE:
        raise KEY_NOT_ACTIVE(f"key {key_hash.hex()} is already revoked or expired; it "
                             f"closes at height {entry.closes_height}")
    validity = ctx.params("inference").ticket_validity_blocks
    entry = ApiKeyEntry(**{**entry.__dict__, "revoked_height": height})
    entry = keeper.schedule_closing(ctx, entry, height + validity)
    keeper.put_key(ctx, entry)
    ctx.emit("api_key_revoked", key_hash=key_hash, closes_height=entry.closes_height)
    return entry


def close_key(ctx: Context, height: int, key_hash: bytes) -> None:
    """A closing fell due: refund what the key has left to its owner, remove it."""
    keeper.drop_closing(ctx, height, key_hash)
    entry = keeper.get_key(ctx, key_hash)
    if entry is None or entry.closes_height != height:
        return
    refund = entry.remaining
    if refund:
        bank.send(ctx, keeper.escrow_address(), entry.owner, refund)
    keeper.delete_key(ctx, entry)
    ctx.emit("api_key_closed", key_hash=key_hash, owner=entry.owner, refunded_nicoin=refund,
             spent_nicoin=entry.spent)


def run_closings(ctx: Context, work: int) -> None:
    """Refund the keys whose closing falls due at this height, at most ``work`` steps (a
    key, or a height looked at); what does not fit waits for the next block, from the
    height where it stopped (the backlog cursor)."""
    height = ctx.block.height
    current = keeper.state_value(ctx, keeper.CLOSINGS_BACKLOG) or height
    while current <= height and work > 0:
        work -= 1
        due = list(keeper.due_closings(ctx, current))
        for due_height, key_hash in due[:work]:
            close_key(ctx, due_height, key_hash)
        if len(due) > work:
            break  # the rest of this height next block
        work -= len(due)
        current += 1
    keeper.set_state_value(ctx, keeper.CLOSINGS_BACKLOG, current if current <= height else 0)


# --- providers ----------------------------------------------------------------------------

def serve_model(ctx: Context, provider: str, model_id: str, endpoint: str) -> Serving:
    """Enter ``provider`` into ``model_id``'s executor draw (or move its endpoint)."""
    entry = models.get_model(ctx, model_id)
    if entry is None or entry.status != models.ACTIVE:
        raise MODEL_NOT_SERVABLE(f"{model_id!r} is not an active registry model; providers "
                                 "serve only active models (`race models list`)")
    current = keeper.get_serving(ctx, model_id, provider)
    since = current.since_height if current is not None else ctx.block.height
    serving = Serving(model_id, provider, endpoint, since)
    if current != serving:
        keeper.put_serving(ctx, serving)
        ctx.emit("serve_model", provider=provider, model=model_id, endpoint=endpoint)
    return serving


def stop_serving(ctx: Context, provider: str, model_id: str) -> None:
    if keeper.get_serving(ctx, model_id, provider) is None:
        raise NOT_SERVING(f"{provider} does not serve {model_id!r}")
    keeper.delete_serving(ctx, model_id, provider)
    ctx.emit("stop_serving", provider=provider, model=model_id)


# --- relays -------------------------------------------------------------------------------

def register_relay(ctx: Context, owner: str, public_key: bytes, proof: bytes) -> RelayEntry:
    """Register a relay key for ``owner``, with the key's consent (its proof)."""
    message = relay_registration_bytes(ctx.block.chain_id, owner, public_key)
    if not verify_signature(public_key, proof, message):
        raise BAD_RELAY_PROOF("the proof must be the relay key's signature over the "
                              "registration bytes for this chain id and owner")
    existing = keeper.get_relay(ctx, public_key)
    if existing is not None:
        raise RELAY_EXISTS(f"relay key {public_key.hex()} is registered to {existing.owner}")
    entry = RelayEntry(public_key, owner, ctx.block.height)
    keeper.put_relay(ctx, entry)
    ctx.emit("relay_registered", public_key=public_key, owner=owner)
    return entry


def deregister_relay(ctx: Context, owner: str, public_key: bytes) -> None:
    existing = keeper.get_relay(ctx, public_key)
    if existing is None:
        raise RELAY_NOT_FOUND(f"relay key {public_key.hex()} is not registered")
    if existing.owner != owner:
        raise NOT_RELAY_OWNER(f"relay key {public_key.hex()} belongs to {existing.owner}")
    keeper.delete_relay(ctx, public_key)
    ctx.emit("relay_deregistered", public_key=public_key, owner=owner)


# --- refunds ------------------------------------------------------------------------------

def credit_refund(ctx: Context, key_hash: bytes, amount: int) -> int:
    """A charge reimbursed into escrow for a key (whitepaper section 6, "Bounty reward": a
    payment for a result found malicious is refunded). The caller has moved ``amount`` into
    escrow; the key's spent drops by as much of it as it had spent, and the escrow
    invariant holds. Returns what was credited: 0 when the key is gone (the caller pays the
    owner instead), never more than the key spent."""
    entry = keeper.get_key(ctx, key_hash)
    if entry is None:
        return 0
    credited = min(amount, entry.spent)
    if credited:
        keeper.put_key(ctx, ApiKeyEntry(**{**entry.__dict__, "spent": entry.spent - credited}))
        ctx.emit("api_key_refunded", key_hash=key_hash, amount_nicoin=credited,
                 spent_nicoin=entry.spent - credited)
    return credited
