"""The registry's messages. They run only as messages of a passed gov proposal.

Whitepaper Appendix J: models are "proposed and voted on before they are approved". A tx
that carries one of these messages itself is refused with ``GOVERNANCE_ONLY`` (code 200):
its authority would have to be the gov module account, which has no private key.
"""

from __future__ import annotations

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.modules.models import keeper
from abci_app.modules.models.errors import GOVERNANCE_ONLY, INVALID_MODEL
from race_protocol.gen.race.v1 import models_pb2


def _require_governance(ctx: Context, authority: str, action: str, command: str) -> None:
    if ctx.signer != governance_authority() or authority != governance_authority():
        raise GOVERNANCE_ONLY(
            f"{action} takes a governance proposal; submit one with `{command}`"
        )


def validate_basic_register(msg: models_pb2.MsgRegisterModel) -> None:
    """Stateless checks of a registration's fields."""
    keeper.validate_model_fields(msg.id, msg.source.hf_repo, msg.source.revision,
                                 msg.units_of_compute_per_token, msg.max_context,
                                 msg.validation_threshold_ppm)


def validate_basic_retire(msg: models_pb2.MsgRetireModel) -> None:
    """A retirement names a model."""
    if not msg.id:
        raise INVALID_MODEL("id is empty")


def validate_basic_update(msg: models_pb2.MsgUpdateModelParams) -> None:
    """An update names a model and changes at least one parameter."""
    if not msg.id:
        raise INVALID_MODEL("id is empty")
    if not (msg.units_of_compute_per_token or msg.max_context or msg.validation_threshold_ppm):
        raise INVALID_MODEL("an update must change at least one parameter")


def handle_register(ctx: Context, msg: models_pb2.MsgRegisterModel) -> None:
    """Refused unless signed by the gov module account (never, for a user tx)."""
    _require_governance(ctx, msg.authority, "registering a model",
                        "race gov propose model")
    keeper.register(ctx, msg, msg.owner or msg.authority, ctx.proposal_id)


def handle_retire(ctx: Context, msg: models_pb2.MsgRetireModel) -> None:
    """Refused unless signed by the gov module account."""
    _require_governance(ctx, msg.authority, "retiring a model",
                        "race gov propose retire-model")
    keeper.retire(ctx, msg.id, ctx.proposal_id)


def handle_update(ctx: Context, msg: models_pb2.MsgUpdateModelParams) -> None:
    """Refused unless signed by the gov module account."""
    _require_governance(ctx, msg.authority, "changing a model's parameters",
                        "race gov propose update-model")
    keeper.update(ctx, msg, ctx.proposal_id)
