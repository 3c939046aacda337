"""The ``app_state`` section of CometBFT's genesis.json: each module's genesis, as JSON.

Validators are not here: they come from genesis.json's ``validators`` through InitChain.
``app_state.staking.operators`` may link those validator keys to accounts.
"""

from __future__ import annotations

import json
from typing import Any

from abci_app.modules import load_modules
from abci_app.modules.context import BlockInfo, Context
from abci_app.modules.errors import ChainError
from abci_app.store import CommittedState, Overlay
from abci_app.tx.keys import decode_address


class GenesisError(ValueError):
    """The app_state would be refused at InitChain; the message says why."""


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
    registry = load_modules()
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
    from abci_app.modules.staking import keeper as staking

    registry = load_modules()
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
