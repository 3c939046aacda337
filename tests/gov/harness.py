"""A chain in memory for module tests: the real module registry and state store, with
messages delivered the way the app delivers them (docs/modules.md section 9: stateless
check, then the handler in a nested overlay kept only on success), minus signatures.
Signed txs through a real CometBFT are covered by the end-to-end test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from abci_app.core.module import ModuleRegistry, load_modules, type_url_of
from abci_app.core.context import BlockInfo, Context, Event
from abci_app.core.errors import ChainError
from abci_app.core.params import PARAMS  # noqa: F401  (its table must exist)
from abci_app.store import CommittedState, Overlay
from abci_app.tx import address_from_public_key

CHAIN_ID = "race-test"
ICOIN = 10**9


@dataclass(frozen=True)
class Outcome:
    """A delivered message's result: code 0 on success, else the error's code and log."""

    code: int
    log: str
    events: list[Event] = field(default_factory=list)

    def attributes(self, event_type: str) -> dict[str, str]:
        for event in self.events:
            if event.type == event_type:
                return dict(event.attributes)
        raise AssertionError(f"no {event_type} event in {[e.type for e in self.events]}")


def validator_key(index: int) -> bytes:
    """A deterministic stand-in for a validator's ed25519 public key."""
    return hashlib.sha256(b"validator-%d" % index).digest()


def account(index: int) -> str:
    """A deterministic account address (the operator of validator ``index``)."""
    return address_from_public_key(hashlib.sha256(b"account-%d" % index).digest())


class Chain:
    """Validators with the given powers, each operated by ``account(i)`` funded with 10^6 icoin;
    plus ``account(100)``, funded but with no validator and so no voting weight."""

    def __init__(self, powers: list[int], app_state: dict[str, Any] | None = None) -> None:
        from abci_app.modules.staking import keeper as staking

        self.registry: ModuleRegistry = load_modules()
        self.store = CommittedState(None)
        self.state = Overlay(self.store)
        self.height = 1
        self.block_events: list[Event] = []
        accounts = [account(i) for i in range(len(powers))] + [account(100)]
        state = {
            "bank": {"balances": [{"address": a, "amount": str(10**6 * ICOIN)}
                                  for a in accounts]},
            "staking": {"operators": {validator_key(i).hex(): account(i)
                                      for i in range(len(powers))}},
        }
        for module, section in (app_state or {}).items():
            state.setdefault(module, {}).update(section)
        ctx = self.context("genesis")
        staking.import_genesis_validators(ctx, [(validator_key(i), p)
                                                for i, p in enumerate(powers)])
        self.registry.init_genesis(ctx, state)

    def context(self, mode: str = "finalize", signer: str | None = None) -> Context:
        block = BlockInfo(self.height, self.height * 1_000_000_000, CHAIN_ID)
        return Context(mode, block, self.state, self.registry, signer=signer)

    def deliver(self, signer: str, message: Message) -> Outcome:
        """Run one message as a tx of ``signer`` in the current block."""
        found = self.registry.route(type_url_of(message))
        assert found is not None, f"nothing routes {type_url_of(message)}"
        _, route = found
        parent = self.context(signer=signer)
        ctx = parent.branch()
        try:
            route.validate_basic(message)
            route.handler(ctx, message)
        except ChainError as refused:
            return Outcome(refused.code, refused.log)
        parent.merge(ctx)
        return Outcome(0, "", ctx.events)

    def end_block(self) -> list[Event]:
        """Run end-of-block hooks for the current height, then move to the next block."""
        ctx = self.context()
        self.registry.end_block(ctx)
        self.block_events = ctx.events
        self.height += 1
        ctx_next = self.context()
        self.registry.begin_block(ctx_next)
        return self.block_events

    def advance_to(self, height: int) -> list[Event]:
        """End blocks until ``height`` is the current block; returns all their events."""
        events: list[Event] = []
        while self.height < height:
            events.extend(self.end_block())
        return events

    def query(self, path: str) -> Any:
        return self.registry.query(self.context("query"), path, b"")

    def params(self, module: str) -> Any:
        return self.context("query").params(module)

    def keeper_context(self) -> Context:
        return self.context("query")
