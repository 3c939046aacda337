"""An in-process network for the rewards tests: the real app (tests/harness.py) whose
validators take part in beacon rounds and Race cycles (tests/race_cycle/net.py), with a
model in the registry, a registered relay, and an API key to settle tickets against.

What the verification module records at a cycle's boundary (checks drawn and done, false
flags, catches, bounties) is scripted through :class:`Script`, a subscriber of the
``race_cycle_closed`` hook placed before the rewards module's: the real wiring, with the
test standing in for the verifiers' reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from abci_app.core.context import Context
from abci_app.modules.rewards import keeper
from abci_app.wiring import build_registry, hooks
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import (
    api_key_hash,
    encode_ticket,
    new_request_id,
    ticket_signing_bytes,
)
from tests.harness import CHAIN_ID, ICOIN, Outcome, account
from tests.inference_chain.net import MODEL, model_entry, public, relay_key
from tests.race_cycle.net import RaceNet, synthetic_leaves

DEVELOPER = 100
RELAY_OWNER = 101
SECRET = "race-rewards-secret"

# (ctx, closing cycle) -> None: what a test makes the verifiers report at a boundary.
Step = Callable[[Context, int], None]


@dataclass
class Script:
    """Steps run at the boundary of given cycles, before the rewards module's release."""

    steps: dict[int, list[Step]] = field(default_factory=dict)

    def at(self, cycle: int, step: Step) -> None:
        self.steps.setdefault(cycle, []).append(step)

    def __call__(self, ctx: Context, cycle: int) -> None:
        for step in self.steps.pop(cycle, []):
            step(ctx, cycle)


@dataclass
class RewardsNet:
    """A Race network with inference parties; ``script`` speaks for the verifiers."""

    race: RaceNet
    script: Script
    relay = relay_key()

    @classmethod
    def start(cls, powers: Sequence[int] = (10, 10, 10, 10), *,
              rewards: Mapping[str, Any] | None = None,
              inference: Mapping[str, Any] | None = None,
              price: int = 1000, units: int = 3,
              balances: Mapping[int, int] | None = None,
              model_owner: str = "", extra: Mapping[str, Any] | None = None) -> RewardsNet:
        """``balances``: account index -> nicoin, replacing the harness's equal balances."""
        script = Script()
        wired = hooks()
        registry = build_registry(hook_set=replace(
            wired, race_cycle_closed=(script, *wired.race_cycle_closed)))
        entry = {**model_entry(MODEL, units), "owner": model_owner}
        state: dict[str, Any] = {
            "models": {"models": [entry]},
            "pricing": {"params": {"genesis_price_per_unit_nicoin": price}},
            "inference": {"params": dict(inference or {}),
                          "relays": [{"public_key": public(relay_key()).hex(),
                                      "owner": account(RELAY_OWNER)}]},
            "rewards": {"params": dict(rewards or {})},
            **(extra or {}),
        }
        if balances is not None:
            state["bank"] = {"balances": [{"address": account(i), "amount": str(amount)}
                                          for i, amount in sorted(balances.items())]}
        race = RaceNet.start(powers, app_state=state, registry=registry,
                             accounts=[*range(len(powers)), DEVELOPER, RELAY_OWNER])
        return cls(race, script)

    # --- reading ---------------------------------------------------------------------------

    @property
    def chain(self) -> Any:
        return self.race.chain

    @property
    def operators(self) -> list[str]:
        return self.race.operators

    @property
    def developer(self) -> str:
        return account(DEVELOPER)

    def cycle(self) -> int:
        return int(self.race.cycle()["cycle"])

    def held(self, node: str) -> int:
        return int(self.chain.query(f"/rewards/held/{node}")["held_total_nicoin"])

    def pool(self, cycle: int) -> int:
        """The cycle's verification pool."""
        totals = self.chain.query(f"/rewards/cycle/{cycle}")["totals"]
        return int(totals["verification_pool"])

    def reputation(self, node: str) -> int:
        return int(self.chain.query(f"/rewards/reputation/{node}")["reputation"]["reputation"])

    def node_cycle(self, cycle: int, node: str) -> dict[str, Any]:
        nodes = self.chain.query(f"/rewards/cycle/{cycle}")["nodes"]
        return next(n for n in nodes if n["node"] == node)

    def tokenomics(self) -> dict[str, Any]:
        return self.chain.query("/rewards/tokenomics")

    def balance(self, address: str) -> int:
        return self.chain.balance(address)

    def invariants(self) -> list[str]:
        return list(self.chain.query("/app/invariants")["broken"])

    def context(self) -> Context:
        return self.chain.keeper_context()

    # --- acting ----------------------------------------------------------------------------

    def deliver(self, signer: str, message: Any) -> Outcome:
        outcome = self.race.block([(signer, message)])[0]
        assert outcome.ok, outcome.log
        return outcome

    def fund_key(self, amount: int) -> None:
        """Create the developer's key with ``amount``, or top it up."""
        key_hash = api_key_hash(SECRET)
        known = self.chain.query_raw(f"/inference/key/{key_hash.hex()}").code == 0
        if known:
            self.deliver(self.developer, pb.MsgTopUpApiKey(
                owner=self.developer, key_hash=key_hash, amount_nicoin=amount))
        else:
            self.deliver(self.developer, pb.MsgCreateApiKey(
                owner=self.developer, key_hash=key_hash, budget_nicoin=amount))

    def ticket(self, executor: str, prompt_tokens: int, completion_tokens: int,
               max_cost: int = 2**63 - 1) -> pb.SettledTicket:
        ticket = pb.Ticket(request_id=new_request_id(), key_hash=api_key_hash(SECRET),
                           model=MODEL, max_cost_nicoin=max_cost, executor=executor,
                           relay=public(self.relay), height=self.chain.height - 1,
                           prompt_hash=b"\x01" * 32, beacon_round=0, attempt=0)
        raw = encode_ticket(ticket)
        return pb.SettledTicket(ticket=raw,
                                signature=self.relay.sign(ticket_signing_bytes(CHAIN_ID, raw)),
                                prompt_tokens=prompt_tokens,
                                completion_tokens=completion_tokens,
                                output_commitment=b"\x02" * 32)

    def settle(self, executor: str, tickets: Sequence[tuple[int, int]]) -> Outcome:
        """Settle one ticket per ``(prompt, completion)`` tokens, executed by ``executor``."""
        items = [self.ticket(executor, p, c) for p, c in tickets]
        return self.deliver(executor, pb.MsgSettleTickets(executor=executor, tickets=items))

    def close_cycle(self, *, race: bool = True, open_only: Sequence[str] | None = None
                    ) -> int:
        """Run the cycle in progress to its boundary: every validator races and passes
        the others (``race=False``: nobody commits, the cycle closes at its deadline).
        Returns the closed cycle."""
        cycle = self.cycle()
        if race:
            leaves = {op: synthetic_leaves(20 + 5 * i, cycle * 10 + i)
                      for i, op in enumerate(self.operators)}
            self.race.run_cycle(leaves, open_only=open_only)
        else:
            self.race.advance_until(lambda: self.cycle() != cycle)
        return cycle


def icoin(amount: int) -> int:
    return amount * ICOIN


__all__ = ["RewardsNet", "Script", "account", "icoin", "keeper"]
