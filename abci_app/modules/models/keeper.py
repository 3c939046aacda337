"""State access of the model registry (whitepaper Appendix J, "Dynamic Pricing for AI Models").

Each model consumes a registered number of units of compute per token; its price per token
is that number times the price per unit of compute in force. Entries change only through
governance: a register-model proposal adds a *proposed* entry, which becomes *active* when
the proposal passes and disappears when it does not; retire and update proposals act on
active entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from abci_app.core.context import Context
from abci_app.core.paging import scan_page
from abci_app.modules.models.errors import (
    INVALID_MODEL,
    MODEL_EXISTS,
    MODEL_NOT_ACTIVE,
    MODEL_NOT_FOUND,
)
from abci_app.modules.models.tables import MODELS
from abci_app.modules.pricing import keeper as pricing
from race_protocol.gen.race.v1 import models_pb2

PROPOSED = models_pb2.MODEL_STATUS_PROPOSED
ACTIVE = models_pb2.MODEL_STATUS_ACTIVE
RETIRED = models_pb2.MODEL_STATUS_RETIRED
STATUS_NAMES: dict[int, str] = {PROPOSED: "proposed", ACTIVE: "active", RETIRED: "retired"}

MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
MAX_CONTEXT_LIMIT = 2**31 - 1
PPM = 1_000_000


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry (``race.v1.Model``)."""

    id: str
    hf_repo: str
    revision: str
    units_of_compute_per_token: int
    max_context: int
    validation_threshold_ppm: int
    owner: str
    status: int
    proposal_id: int
    updated_height: int

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, "unspecified")

    def as_json(self) -> dict[str, Any]:
        """The proto3 JSON form of ``race.v1.Model``."""
        return {
            "id": self.id,
            "source": {"hf_repo": self.hf_repo, "revision": self.revision},
            "units_of_compute_per_token": str(self.units_of_compute_per_token),
            "max_context": str(self.max_context),
            "validation_threshold_ppm": str(self.validation_threshold_ppm),
            "owner": self.owner,
            "status": models_pb2.ModelStatus.Name(self.status),
            "proposal_id": str(self.proposal_id),
            "updated_height": str(self.updated_height),
        }


def _entry(model_id: str, row: dict[str, Any]) -> ModelEntry:
    return ModelEntry(id=model_id, **row)


def _put(ctx: Context, entry: ModelEntry) -> None:
    row = {k: v for k, v in entry.__dict__.items() if k != "id"}
    ctx.table(MODELS).put(entry.id, row)


def get_model(ctx: Context, model_id: str) -> ModelEntry | None:
    """The entry with this id, in any status, or None."""
    row = ctx.table(MODELS).get(model_id)
    return None if row is None else _entry(model_id, row)


def list_models(ctx: Context, status: int = 0) -> list[ModelEntry]:
    """Entries sorted by id; only those with ``status`` unless it is 0."""
    entries = [_entry(key[0], row) for key, row in ctx.table(MODELS).scan()]
    return [e for e in entries if not status or e.status == status]


def models_page(ctx: Context, first_id: str, limit: int
                ) -> tuple[list[ModelEntry], str | None]:
    """Up to ``limit`` entries from id ``first_id`` on, and the id the next page starts at."""
    rows, following = scan_page(ctx.table(MODELS), start=first_id or None, limit=limit)
    return [_entry(key[0], row) for key, row in rows], (
        None if following is None else following[0])


def active_model(ctx: Context, model_id: str) -> ModelEntry:
    """The active entry with this id, or MODEL_NOT_FOUND / MODEL_NOT_ACTIVE."""
    entry = get_model(ctx, model_id)
    if entry is None:
        raise MODEL_NOT_FOUND(f"no model {model_id!r} in the registry")
    if entry.status != ACTIVE:
        raise MODEL_NOT_ACTIVE(f"model {model_id!r} is {entry.status_name}")
    return entry


def price_per_token(ctx: Context, entry: ModelEntry) -> int:
    """Nicoin per token: units of compute per token x price per unit (Appendix J)."""
    return entry.units_of_compute_per_token * pricing.current_price(ctx)


# --- validation -------------------------------------------------------------------------

def validate_model_fields(model_id: str, hf_repo: str, revision: str, units: int,
                          max_context: int, validation_threshold_ppm: int) -> None:
    """Stateless checks of a registration, each failure naming the field to fix."""
    if not MODEL_ID_RE.fullmatch(model_id):
        raise INVALID_MODEL(
            f"id {model_id!r} must be 1-128 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not HF_REPO_RE.fullmatch(hf_repo):
        raise INVALID_MODEL(f"source repo {hf_repo!r} must look like 'organisation/name'")
    if not REVISION_RE.fullmatch(revision):
        raise INVALID_MODEL(f"source revision {revision!r} must be a commit hash, tag or branch")
    check_units(units)
    check_max_context(max_context)
    check_validation_threshold(validation_threshold_ppm)


def check_units(units: int) -> None:
    if units < 1:
        raise INVALID_MODEL("units_of_compute_per_token must be at least 1")


def check_max_context(max_context: int) -> None:
    if not 1 <= max_context <= MAX_CONTEXT_LIMIT:
        raise INVALID_MODEL(f"max_context must be between 1 and {MAX_CONTEXT_LIMIT} tokens")


def check_validation_threshold(threshold_ppm: int) -> None:
    if not 1 <= threshold_ppm <= PPM:
        raise INVALID_MODEL(
            f"validation_threshold_ppm must be between 1 and {PPM} (parts per million), "
            f"got {threshold_ppm}"
        )


def check_units_within_params(ctx: Context, units: int) -> None:
    limit = ctx.params("models").max_units_of_compute_per_token
    if units > limit:
        raise INVALID_MODEL(
            f"units_of_compute_per_token {units} is above max_units_of_compute_per_token "
            f"({limit})"
        )


def validate_registration(ctx: Context, msg: models_pb2.MsgRegisterModel) -> None:
    """Every check a registration must pass, stateless and stateful (id still free)."""
    validate_model_fields(msg.id, msg.source.hf_repo, msg.source.revision,
                          msg.units_of_compute_per_token, msg.max_context,
                          msg.validation_threshold_ppm)
    check_units_within_params(ctx, msg.units_of_compute_per_token)
    existing = get_model(ctx, msg.id)
    if existing is not None:
        raise MODEL_EXISTS(
            f"model {msg.id!r} is already in the registry ({existing.status_name}, "
            f"proposal {existing.proposal_id}); ids are never reused, choose another"
        )


def validate_update(ctx: Context, msg: models_pb2.MsgUpdateModelParams) -> ModelEntry:
    """Check an update of an active model's parameters; returns the updated entry."""
    entry = active_model(ctx, msg.id)
    if not (msg.units_of_compute_per_token or msg.max_context or msg.validation_threshold_ppm):
        raise INVALID_MODEL("an update must change at least one parameter")
    changes: dict[str, Any] = {}
    if msg.units_of_compute_per_token:
        check_units_within_params(ctx, msg.units_of_compute_per_token)
        changes["units_of_compute_per_token"] = msg.units_of_compute_per_token
    if msg.max_context:
        check_max_context(msg.max_context)
        changes["max_context"] = msg.max_context
    if msg.validation_threshold_ppm:
        check_validation_threshold(msg.validation_threshold_ppm)
        changes["validation_threshold_ppm"] = msg.validation_threshold_ppm
    return replace(entry, updated_height=ctx.block.height, **changes)


# --- changes: by passed proposals, and the reservation hooks ----------------------------

def add_proposed(ctx: Context, msg: models_pb2.MsgRegisterModel, owner: str,
                 proposal_id: int) -> ModelEntry:
    """Reserve the id as a *proposed* entry while its proposal is open."""
    validate_registration(ctx, msg)
    entry = ModelEntry(msg.id, msg.source.hf_repo, msg.source.revision,
                       msg.units_of_compute_per_token, msg.max_context,
                       msg.validation_threshold_ppm, owner, PROPOSED, proposal_id,
                       ctx.block.height)
    _put(ctx, entry)
    ctx.emit("model_proposed", model_id=entry.id, proposal_id=proposal_id, owner=owner)
    return entry


def activate(ctx: Context, model_id: str, proposal_id: int) -> ModelEntry:
    """The register proposal passed: its proposed entry becomes active."""
    entry = get_model(ctx, model_id)
    if entry is None or entry.status != PROPOSED or entry.proposal_id != proposal_id:
        raise MODEL_NOT_FOUND(f"no model {model_id!r} proposed by proposal {proposal_id}")
    entry = replace(entry, status=ACTIVE, updated_height=ctx.block.height)
    _put(ctx, entry)
    ctx.emit("model_registered", model_id=model_id, proposal_id=proposal_id,
             units_of_compute_per_token=entry.units_of_compute_per_token,
             price_per_token_nicoin=price_per_token(ctx, entry))
    return entry


def withdraw_proposed(ctx: Context, model_id: str, proposal_id: int) -> None:
    """The register proposal did not pass: free the id it reserved."""
    entry = get_model(ctx, model_id)
    if entry is not None and entry.status == PROPOSED and entry.proposal_id == proposal_id:
        ctx.table(MODELS).delete(model_id)
        ctx.emit("model_proposal_withdrawn", model_id=model_id, proposal_id=proposal_id)


def register(ctx: Context, msg: models_pb2.MsgRegisterModel, owner: str,
             proposal_id: int) -> ModelEntry:
    """Register a model as active: the proposal ``proposal_id`` passed (its reserved
    *proposed* entry activates), or genesis registers it directly (``proposal_id`` 0)."""
    reserved = get_model(ctx, msg.id)
    if (proposal_id and reserved is not None and reserved.status == PROPOSED
            and reserved.proposal_id == proposal_id):
        return activate(ctx, msg.id, proposal_id)
    return register_active(ctx, msg, owner, proposal_id)


def register_active(ctx: Context, msg: models_pb2.MsgRegisterModel, owner: str,
                    proposal_id: int) -> ModelEntry:
    """Register directly as active (genesis, or a proposal that reserved nothing)."""
    validate_registration(ctx, msg)
    entry = ModelEntry(msg.id, msg.source.hf_repo, msg.source.revision,
                       msg.units_of_compute_per_token, msg.max_context,
                       msg.validation_threshold_ppm, owner, ACTIVE, proposal_id,
                       ctx.block.height)
    _put(ctx, entry)
    ctx.emit("model_registered", model_id=entry.id, proposal_id=proposal_id,
             units_of_compute_per_token=entry.units_of_compute_per_token,
             price_per_token_nicoin=price_per_token(ctx, entry))
    return entry


def retire(ctx: Context, model_id: str, proposal_id: int) -> ModelEntry:
    """Retire an active model: executors stop serving it, its id stays taken."""
    entry = replace(active_model(ctx, model_id), status=RETIRED,
                    updated_height=ctx.block.height)
    _put(ctx, entry)
    ctx.emit("model_retired", model_id=model_id, proposal_id=proposal_id)
    return entry


def update(ctx: Context, msg: models_pb2.MsgUpdateModelParams, proposal_id: int) -> ModelEntry:
    """Apply a passed update of an active model's parameters."""
    entry = validate_update(ctx, msg)
    _put(ctx, entry)
    ctx.emit("model_updated", model_id=entry.id, proposal_id=proposal_id,
             units_of_compute_per_token=entry.units_of_compute_per_token,
             max_context=entry.max_context,
             validation_threshold_ppm=entry.validation_threshold_ppm)
    return entry
