"""The rewards module: held rewards released at the end of each Race cycle, reputation, and
the whitepaper's tokenomics (section 6; Appendices E, F and K; DESIGN.md sections 4 and 8;
docs/rewards.md).

It has no ``end_block``: it acts when the inference settlement hands it a charge's shares
(``distribution.distribute_fees``), when the verification rules record what they found
(the keeper's interface), and at each Race cycle's boundary (``after_race_cycle_closed``,
wired in :func:`abci_app.wiring.hooks`).
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import issuance, keeper, msgs, params, queries, release, tables
from abci_app.modules.rewards.errors import INVALID_GENESIS
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import rewards_pb2
from race_protocol.integers import integer_from_json
from race_protocol.rewards.tokenomics import (
    CORE_INCENTIVE_NICOIN,
    GENESIS_ALLOCATIONS_PPM,
    PPM,
    SUPPLY_NICOIN,
)

ALLOCATION_NAMES = tuple(name for name, _ in GENESIS_ALLOCATIONS_PPM)
MAX_INT64 = 2**63 - 1
STATE_NAMES = frozenset((
    keeper.RELEASED_THROUGH, release.PRUNED_THROUGH, issuance.ISSUED, issuance.BATCH_FEES,
    issuance.BATCH_FEE_MINTED, issuance.FEES_TOTAL, issuance.CORE_ALLOWANCE,
    issuance.GENESIS_TIME_NS, issuance.MINIMUM_YEAR, issuance.MINIMUM_YEAR_ISSUED,
    issuance.MINIMUM_OWED, issuance.MINIMUM_ISSUED))


def whitepaper_allocations(supply: int = SUPPLY_NICOIN) -> list[dict[str, str]]:
    """Appendix E's genesis allocation, for a genesis file's ``rewards.allocations``: 16%
    founders, 12% top providers, 12% liquidity pool, each into its module account (the
    other 60%, the core incentive, is issued)."""
    return [{"name": name, "amount_nicoin": str(supply * ppm // PPM)}
            for name, ppm in GENESIS_ALLOCATIONS_PPM]


def _int(item: dict[str, Any], name: str, high: int = MAX_INT64) -> int:
    try:
        value = integer_from_json(item.get(name, 0))
    except ValueError as bad:
        raise INVALID_GENESIS(f"{name}: {bad}") from None
    if not 0 <= value <= high:
        raise INVALID_GENESIS(f"{name} must be between 0 and {high}, got {value}")
    return value


def _list(section: dict[str, Any], name: str) -> list[dict[str, Any]]:
    entries = section.get(name) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise INVALID_GENESIS(f"{name} must be a list of objects")
    return entries


def _node(value: Any) -> str:
    if not is_valid_address(str(value)):
        raise INVALID_GENESIS(f"node {value!r} is not a race1... address")
    return str(value)


class RewardsModule(Module):
    """Held rewards, their release, reputation, issuance and the funds."""

    name = "rewards"
    tables = (tables.STATE, tables.BATCHES, tables.HELD, tables.CYCLE_NODES, tables.CYCLES,
              tables.REPUTATION, tables.BOUNTIES)
    params_type = params.RewardsParams
    msg_routes = (
        MsgRoute(rewards_pb2.MsgSpendFund, msgs.validate_basic_spend_fund,
                 msgs.handle_spend_fund),
    )
    query_routes = (
        QueryRoute("tokenomics", queries.tokenomics),
        QueryRoute("held", queries.held),
        QueryRoute("reputation", queries.reputation),
        QueryRoute("reputations", queries.reputations),
        QueryRoute("cycle", queries.cycle),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``core_incentive_nicoin`` (default 600M icoin, at most that): the core incentive
        still to issue. ``allocations``: ``[{"name", "amount_nicoin"}]`` minted into their
        module accounts (names: founders, top_providers, liquidity_pool; see
        :func:`whitepaper_allocations`). And, as :meth:`export_genesis` writes them, the
        module's state. Genesis time starts the issuance years; the cycle in progress gets
        the genesis validators' weights."""
        state = section.get("state") or {}
        if not isinstance(state, dict):
            raise INVALID_GENESIS("state must be an object of decimal integers")
        for name in sorted(state):
            if name not in STATE_NAMES:
                raise INVALID_GENESIS(f"unknown state value {name!r}")
            keeper.set_state_value(ctx, str(name), _int(state, name, 2**127))
        allowance = (_int(section, "core_incentive_nicoin", CORE_INCENTIVE_NICOIN)
                     if "core_incentive_nicoin" in section else CORE_INCENTIVE_NICOIN)
        keeper.set_state_value(ctx, issuance.CORE_ALLOWANCE, allowance)
        if issuance.GENESIS_TIME_NS not in state:
            keeper.set_state_value(ctx, issuance.GENESIS_TIME_NS, ctx.block.time_ns)
        seen: set[str] = set()
        for item in _list(section, "allocations"):
            name = str(item.get("name", ""))
            if name not in ALLOCATION_NAMES or name in seen:
                raise INVALID_GENESIS(f"allocation {name!r}: names are "
                                      f"{', '.join(ALLOCATION_NAMES)}, each once")
            seen.add(name)
            amount = _int(item, "amount_nicoin")
            if amount:
                bank.mint(ctx, keeper.fund_address(name), amount)
        self._import_rows(ctx, section)
        current = keeper.current_cycle(ctx)
        if keeper.RELEASED_THROUGH not in state and current:
            keeper.set_state_value(ctx, keeper.RELEASED_THROUGH, current - 1)
            keeper.set_state_value(ctx, release.PRUNED_THROUGH, current - 1)
        if current and not keeper.has_cycle(ctx, current):
            release.snapshot_weights(ctx, current)

    def _import_rows(self, ctx: Context, section: dict[str, Any]) -> None:
        for item in _list(section, "batches"):
            issuance.put_batch(ctx, issuance.Batch(
                _int(item, "batch", 12), _int(item, "fees"), _int(item, "fee_minted"),
                _int(item, "minimum_minted"), _int(item, "completed_height"),
                _int(item, "completed_time_ns")))
        for item in _list(section, "cycles"):
            keeper.put_cycle(ctx, keeper.CycleTotals(
                _int(item, "cycle"), **{name: _int(item, name) for name in (
                    "weight", "tasks", "units", "fees", "issuance", "minimum_issuance",
                    "accrued", "verification_pool", "released", "forfeited", "bounties",
                    "release_height")}))
        for item in _list(section, "nodes"):
            keeper.put_node(ctx, keeper.NodeCycle(
                _int(item, "cycle"), _node(item.get("node")),
                **{name: _int(item, name) for name in (
                    "weight", "tasks", "units", "drawn", "done", "false_flags", "released",
                    "forfeited")},
                caught=bool(item.get("caught", False)),
                caught_reason=str(item.get("caught_reason", "")),
                outcome=str(item.get("outcome", keeper.PENDING))))
        for item in _list(section, "held"):
            kind = str(item.get("kind", ""))
            if kind not in keeper.KINDS:
                raise INVALID_GENESIS(f"held kind {kind!r}; kinds: {', '.join(keeper.KINDS)}")
            ctx.table(tables.HELD).put(
                (_int(item, "cycle"), _node(item.get("node")), kind),
                {"amount": _int(item, "amount")})
        for item in _list(section, "reputations"):
            keeper.put_reputation(ctx, keeper.Reputation(
                _node(item.get("node")), **{name: _int(item, name) for name in (
                    "reputation", "clean_cycles", "caught_cycles", "last_caught_cycle",
                    "false_flags", "pending_lapses")}))
        for item in _list(section, "bounties"):
            keeper.put_bounty(ctx, _int(item, "cycle"), _node(item.get("reporter")),
                              _int(item, "paid"))

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """Every row, so a chain exported mid-cycle re-imports to the same state (the
        allocations are in the bank's balances already)."""
        return {
            "core_incentive_nicoin": str(issuance.core_allowance(ctx)),
            "state": {name: str(value) for name, value in keeper.all_state(ctx).items()},
            "batches": [{k: str(v) for k, v in entry.__dict__.items()}
                        for entry in issuance.batches(ctx)],
            "cycles": [totals.as_json() for totals in keeper.cycles(ctx)],
            "nodes": [entry.as_json() for entry in keeper.all_nodes(ctx)],
            "held": [{"cycle": str(c), "node": n, "kind": k, "amount": str(a)}
                     for c, n, k, a in keeper.held_rows(ctx)],
            "reputations": [entry.as_json() for entry in keeper.all_reputations(ctx)],
            "bounties": [{"cycle": str(c), "reporter": r, "paid": str(p)}
                         for c, r, p in keeper.all_bounties(ctx)],
        }

    def after_race_cycle_closed(self, ctx: Context, cycle: int) -> None:
        """Whitepaper section 6: at the cycle's end, catches, the minimum issuance and the
        release of held rewards (docs/rewards.md, "Release")."""
        release.after_race_cycle_closed(ctx, cycle)

    def check_invariants(self, ctx: Context) -> list[str]:
        return keeper.broken_invariants(ctx) + issuance.broken_invariants(ctx)


MODULE = RewardsModule()
