"""What proposals do: register, retire or update a model, change chain params, or nothing.

Each kind is checked when the proposal is submitted (so a proposal that could never execute
is refused at once, with its code) and checked again when it executes, because the chain
may have changed during the voting period.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from abci_app.gen.race.v1 import gov_pb2
from abci_app.modules.context import Context
from abci_app.modules.errors import ChainError
from abci_app.modules.gov.errors import INVALID_PROPOSAL
from abci_app.modules.gov.escrow import authority_address

KINDS = ("text", "register_model", "retire_model", "update_model_params", "update_params")
MAX_PARAM_CHANGES = 32


def kind_of(content: gov_pb2.ProposalContent) -> str:
    """The content's kind, or INVALID_PROPOSAL when none is set."""
    kind = content.WhichOneof("kind")
    if kind is None:
        raise INVALID_PROPOSAL(f"content must be one of {', '.join(KINDS)}")
    return kind


def validate_basic(content: gov_pb2.ProposalContent) -> str:
    """Stateless checks of the content; returns its kind."""
    from abci_app.modules.models import keeper as models

    kind = kind_of(content)
    if kind == "register_model":
        msg = content.register_model
        models.validate_model_fields(msg.id, msg.source.hf_repo, msg.source.revision,
                                     msg.units_of_compute_per_token, msg.max_context,
                                     msg.validation_threshold_ppm)
    elif kind in ("retire_model", "update_model_params"):
        if not getattr(content, kind).id:
            raise INVALID_PROPOSAL("the model id is empty")
    elif kind == "update_params":
        changes = content.update_params.changes
        if not changes:
            raise INVALID_PROPOSAL("a param change proposal needs at least one change")
        if len(changes) > MAX_PARAM_CHANGES:
            raise INVALID_PROPOSAL(f"at most {MAX_PARAM_CHANGES} param changes per proposal")
        seen: set[tuple[str, str]] = set()
        for change in changes:
            if not change.module or not change.key:
                raise INVALID_PROPOSAL("every param change names a module and a key")
            if (change.module, change.key) in seen:
                raise INVALID_PROPOSAL(f"{change.module}.{change.key} is changed twice")
            seen.add((change.module, change.key))
    authority = getattr(getattr(content, kind), "authority", "")
    if authority and authority != authority_address():
        raise INVALID_PROPOSAL(
            f"authority must be empty or the gov module account {authority_address()}"
        )
    return kind


def _param_changes(content: gov_pb2.ProposalContent) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for change in content.update_params.changes:
        grouped[change.module][change.key] = change.value
    return {module: grouped[module] for module in sorted(grouped)}


def validate_against_state(ctx: Context, content: gov_pb2.ProposalContent) -> None:
    """Stateful checks at submission: the proposal could execute on today's state."""
    from abci_app.modules.models import keeper as models

    kind = kind_of(content)
    if kind == "register_model":
        models.validate_registration(ctx, content.register_model)
    elif kind == "retire_model":
        models.active_model(ctx, content.retire_model.id)
    elif kind == "update_model_params":
        models.validate_update(ctx, content.update_model_params)
    elif kind == "update_params":
        # A dry run in a branch that is dropped: every module, key, type and range is checked
        # by the params framework exactly as it will be when the proposal executes.
        _apply_param_changes(ctx.branch(), content)


def _typed_values(params_type: type | None, changes: dict[str, str]) -> dict[str, Any]:
    """A change's text as the param's type: "true"/"false" for booleans; integers and
    strings go to the params framework as written (it parses decimal integers)."""
    if params_type is None:
        return dict(changes)
    booleans = {f.name for f in dataclasses.fields(params_type) if f.type in (bool, "bool")}
    typed: dict[str, Any] = {}
    for key, value in changes.items():
        if key in booleans and value.lower() in ("true", "false"):
            typed[key] = value.lower() == "true"
        else:
            typed[key] = value
    return typed


def _apply_param_changes(ctx: Context, content: gov_pb2.ProposalContent) -> None:
    from abci_app.modules.params import set_params

    for module, changes in _param_changes(content).items():
        try:
            params_type = ctx.registry.module(module).params_type
        except KeyError:
            raise INVALID_PROPOSAL(
                f"no module {module!r}; modules: {', '.join(ctx.registry.names())}"
            ) from None
        set_params(ctx, module, _typed_values(params_type, changes))


def on_submitted(ctx: Context, proposal_id: int, proposer: str,
                 content: gov_pb2.ProposalContent) -> None:
    """Side effects of a new proposal: a register-model proposal reserves its model id."""
    from abci_app.modules.models import keeper as models

    if kind_of(content) == "register_model":
        models.add_proposed(ctx, content.register_model, proposer, proposal_id)


def on_not_passed(ctx: Context, proposal_id: int, content: gov_pb2.ProposalContent) -> None:
    """A register-model proposal that did not pass frees the model id it reserved."""
    from abci_app.modules.models import keeper as models

    if kind_of(content) == "register_model":
        models.withdraw_proposed(ctx, content.register_model.id, proposal_id)


def execute(ctx: Context, proposal_id: int, content: gov_pb2.ProposalContent) -> None:
    """Carry out a passed proposal. Raises ChainError when it cannot; the caller runs this in
    a branch, so a failure changes nothing."""
    from abci_app.modules.models import keeper as models

    kind = kind_of(content)
    if kind == "register_model":
        models.activate(ctx, content.register_model.id, proposal_id)
    elif kind == "retire_model":
        models.retire(ctx, content.retire_model.id, proposal_id)
    elif kind == "update_model_params":
        models.update(ctx, content.update_model_params, proposal_id)
    elif kind == "update_params":
        _apply_param_changes(ctx, content)


def try_execute(ctx: Context, proposal_id: int, content: gov_pb2.ProposalContent) -> str:
    """Execute in a branch kept only on success; returns "" or the failure's log."""
    branch = ctx.branch()
    try:
        execute(branch, proposal_id, content)
    except ChainError as failure:
        return f"code {failure.code} ({failure.codespace}): {failure.log}"
    ctx.merge(branch)
    return ""
