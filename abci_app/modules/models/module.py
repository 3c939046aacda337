"""The models module: the registry of served models and their cost in units of compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.models import keeper, msgs, params, queries, tables
from abci_app.modules.models.errors import INVALID_MODEL
from race_protocol.gen.race.v1 import models_pb2
from race_protocol.integers import integer_from_json


class ModelsModule(Module):
    """Registry entries; changed only by passed gov proposals."""

    name = "models"
    tables = (tables.MODELS,)
    params_type = params.ModelsParams
    msg_routes = (
        MsgRoute(models_pb2.MsgRegisterModel, msgs.validate_basic_register,
                 msgs.handle_register),
        MsgRoute(models_pb2.MsgRetireModel, msgs.validate_basic_retire, msgs.handle_retire),
        MsgRoute(models_pb2.MsgUpdateModelParams, msgs.validate_basic_update,
                 msgs.handle_update),
    )
    query_routes = (
        QueryRoute("list", queries.models),
        QueryRoute("model", queries.model),
        QueryRoute("pricing", queries.pricing_table),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``{"models": [{"id", "hf_repo", "revision", "units_of_compute_per_token",
        "max_context", "validation_threshold_ppm", "owner", "status"}]}``: models active (or,
        with ``"status": "retired"``, retired) from genesis."""
        for item in sorted(section.get("models") or [], key=lambda m: str(m.get("id"))):
            try:
                msg = models_pb2.MsgRegisterModel(
                    id=item["id"],
                    source=models_pb2.ModelSource(hf_repo=item["hf_repo"],
                                                  revision=item["revision"]),
                    units_of_compute_per_token=integer_from_json(item["units_of_compute_per_token"]),
                    max_context=integer_from_json(item["max_context"]),
                    validation_threshold_ppm=integer_from_json(item["validation_threshold_ppm"]),
                )
                status = str(item.get("status", "active"))
                if status not in ("active", "retired"):
                    raise ValueError(f"status must be active or retired, not {status!r}")
            except (KeyError, TypeError, ValueError) as exc:
                raise INVALID_MODEL(f"genesis model {item!r}: {exc}") from None
            keeper.register_active(ctx, msg, str(item.get("owner", "")), 0)
            if status == "retired":
                keeper.retire(ctx, msg.id, 0)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """Active and retired entries (retired ids stay taken); proposed entries belong to
        open proposals, which are not exported."""
        return {"models": [
            {
                "id": e.id,
                "hf_repo": e.hf_repo,
                "revision": e.revision,
                "units_of_compute_per_token": e.units_of_compute_per_token,
                "max_context": e.max_context,
                "validation_threshold_ppm": e.validation_threshold_ppm,
                "owner": e.owner,
                "status": e.status_name,
            }
            for e in keeper.list_models(ctx) if e.status in (keeper.ACTIVE, keeper.RETIRED)
        ]}

    def after_proposal_submitted(self, ctx: Context, proposal_id: int, proposer: str,
                                 messages: Sequence[Message]) -> None:
        """A proposal to register a model reserves its id as *proposed* while it is open,
        so two open proposals can never register the same id."""
        for message in messages:
            if isinstance(message, models_pb2.MsgRegisterModel):
                keeper.add_proposed(ctx, message, message.owner or proposer, proposal_id)

    def after_proposal_closed(self, ctx: Context, proposal_id: int,
                              messages: Sequence[Message], executed: bool) -> None:
        """A registration that did not execute frees the id it reserved."""
        if executed:
            return
        for message in messages:
            if isinstance(message, models_pb2.MsgRegisterModel):
                keeper.withdraw_proposed(ctx, message.id, proposal_id)


MODULE = ModelsModule()
