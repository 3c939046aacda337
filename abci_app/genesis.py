"""The ``app_state`` section of CometBFT's genesis.json: each module's genesis, as JSON.

Validators are not here: they come from genesis.json's ``validators`` through InitChain.
``app_state.staking.operators`` may link those validator keys to accounts.
"""

from __future__ import annotations

import json
from typing import Any

from abci_app.core.context import BlockInfo, Context
from abci_app.core.errors import ChainError, GenesisError
from abci_app.modules.staking import keeper as staking
from abci_app.store import CommittedState, Overlay
from abci_app.tx.keys import decode_address
from abci_app.wiring import build_registry

__all__ = ["GenesisError", "build_app_state", "default_app_state", "validate_app_state"]


def default_app_state() -> dict[str, Any]:
    """Every installed module's section with default params and no balances."""
    return build_app_state({})


def build_app_state(
    balances: dict[str, int],
    params: dict[str, dict[str, Any]] | None = None,
    operators: dict[str, str] | None = None,
) -> dict[str, Any]:
    """app_state for genesis.json.

    ``balances``: address -> nicoin. ``params``: module -> {field: value} overrides.
    ``operators``: validator ed25519 public key (hex) -> the account that runs it.
    """
    for address, amount in balances.items():
        try:
            decode_address(address)
        except ValueError as bad:
            raise GenesisError(f"balance for {address!r}: {bad}") from None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise GenesisError(f"balance for {address} must be a positive integer of nicoin")
    registry = build_registry()
    state: dict[str, Any] = {name: {} for name in registry.names()}
    for module, overrides in (params or {}).items():
        if module not in state:
            raise GenesisError(f"no module {module!r}; modules: {registry.names()}")
        state[module]["params"] = dict(overrides)
    state["bank"]["balances"] = [
        {"address": address, "amount": str(amount)} for address, amount in sorted(balances.items())
    ]
    state["staking"]["operators"] = dict(sorted((operators or {}).items()))
    return state


def validate_app_state(
    app_state: dict[str, Any], validators: list[tuple[bytes, int]] | None = None
) -> None:
    """Run the genesis import in a throwaway in-memory store; GenesisError if it fails.

    ``validators`` are the (ed25519 public key, power) pairs of genesis.json; without
    them, operator links cannot be checked and are skipped.
    """
    registry = build_registry()
    store = CommittedState(None)
    try:
        ctx = Context("genesis", BlockInfo(1, 0, "validate"), Overlay(store), registry)
        state = json.loads(json.dumps(app_state))
        if validators is None:
            state.get("staking", {}).pop("operators", None)
        else:
            staking.import_genesis_validators(ctx, validators)
        registry.init_genesis(ctx, state)
        broken = registry.check_invariants(ctx)
        if broken:
            raise GenesisError(f"genesis breaks invariants: {broken}")
    except ChainError as refusal:
        raise GenesisError(refusal.log) from None
    finally:
        store.close()
