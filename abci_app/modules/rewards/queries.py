"""Queries of the rewards module, answered as ``race.v1`` JSON (proto/race/v1/rewards.proto):
the tokenomics (issuance so far, the current batch and its subsidy, the minimum issuance,
the funds), a node's held rewards and recent cycles, reputation, and a cycle's totals."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import MAX_PAGE_LIMIT, page_request, pagination, scan_page
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import issuance, keeper
from abci_app.modules.rewards.tables import CYCLE_NODES, REPUTATION
from abci_app.tx import is_valid_address
from race_protocol.integers import is_decimal, parse_decimal
from race_protocol.rewards.tokenomics import (
    BATCHES,
    issuance_ratio,
    minimum_for_year,
    schedule,
    subsidy_share,
)

HISTORY_ROWS = 10
# Who spends each fund (the answer's ``spent_by``).
FUNDS: tuple[tuple[str, str], ...] = (
    ("escrow", "the release rules, at each cycle's end"),
    ("forfeit_pool", "developers' refunds, bounties, and governance"),
    ("training_fund", "governance only (MsgSpendFund)"),
    ("community_pool", "governance only (MsgSpendFund)"),
    ("founders", "governance only (MsgSpendFund)"),
    ("top_providers", "governance only (MsgSpendFund)"),
    ("liquidity_pool", "governance only (MsgSpendFund)"),
)


def _node(args: list[str], path: str) -> str:
    if len(args) != 1 or not is_valid_address(args[0]):
        raise BAD_QUERY(f"use {path}/<race1... node>")
    return args[0]


def _ratio(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]}"


def tokenomics(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/rewards/tokenomics``: issuance so far, the current batch and its subsidy, the
    minimum issuance, the 12 batches (schedule and actuals) and the funds
    (``QueryTokenomicsResponse``)."""
    state = issuance.progress(ctx)
    allowance = issuance.core_allowance(ctx)
    done = {entry.batch: entry for entry in issuance.batches(ctx)}
    rows = []
    for row in schedule():
        entry = done.get(row.batch, issuance.Batch(row.batch))
        status = ("completed" if entry.completed_height else
                  "issuing" if row.batch == state.batch else
                  "pending" if row.batch > state.batch else "partial")
        rows.append({
            "batch": str(row.batch), "subsidy_share_ppm": str(row.subsidy_share_ppm),
            "subsidy_share": _ratio(subsidy_share(row.batch)),
            "scheduled_subsidy_nicoin": str(row.subsidy),
            "scheduled_fees_nicoin": str(row.fees), "scheduled_total_nicoin": str(row.total),
            "fees_nicoin": str(entry.fees), "fee_minted_nicoin": str(entry.fee_minted),
            "minimum_minted_nicoin": str(entry.minimum_minted),
            "subsidy_nicoin": str(entry.minted), "total_nicoin": str(entry.minted + entry.fees),
            "completed_height": str(entry.completed_height), "status": status})
    current = state.batch
    issuing = current <= BATCHES
    share = subsidy_share(current) if issuing else (0, 1)
    year = issuance.year_of(ctx)
    params = ctx.params("rewards")
    basis = ctx.params("bank").max_supply_nicoin
    current_entry = done.get(current, issuance.Batch(current))
    return {
        "height": str(ctx.block.height),
        "supply_cap_nicoin": str(basis),
        "supply_nicoin": str(bank.supply(ctx)),
        "core_incentive_nicoin": str(allowance),
        "issued_nicoin": str(state.issued),
        "remaining_nicoin": str(max(allowance - state.issued, 0)),
        "current_batch": str(current),
        "subsidy_share_ppm": str(share[0] * 1_000_000 // share[1]),
        "subsidy_share": _ratio(share),
        "issuance_ratio": _ratio(issuance_ratio(current)) if issuing else "0/1",
        "batch_fees_nicoin": str(current_entry.fees),
        "batch_minted_nicoin": str(current_entry.minted),
        "fees_total_nicoin": str(keeper.state_value(ctx, issuance.FEES_TOTAL)),
        "minimum": {
            "year": str(year),
            "minimum_for_year_nicoin": str(minimum_for_year(year, basis,
                                                            params.minimum_issuance_ppm)),
            "due_nicoin": str(_due_so_far(ctx)),
            "year_issued_nicoin": str(keeper.state_value(ctx, issuance.MINIMUM_YEAR_ISSUED)
                                      if keeper.state_value(ctx, issuance.MINIMUM_YEAR) == year
                                      else 0),
            "owed_nicoin": str(keeper.state_value(ctx, issuance.MINIMUM_OWED)),
            "minted_nicoin": str(keeper.state_value(ctx, issuance.MINIMUM_ISSUED)),
        },
        "batches": rows,
        "funds": [{"name": name, "address": keeper.fund_address(name),
                   "balance_nicoin": str(bank.balance(ctx, keeper.fund_address(name))),
                   "spent_by": spent_by} for name, spent_by in FUNDS],
    }


def _due_so_far(ctx: Context) -> int:
    """The year-to-date minimum (read-only: the year is not rolled over in a query)."""
    year = issuance.year_of(ctx)
    start = keeper.state_value(ctx, issuance.GENESIS_TIME_NS) + year * issuance.YEAR_NS
    share = ctx.params("rewards").minimum_issuance_ppm
    minimum = minimum_for_year(year, ctx.params("bank").max_supply_nicoin, share)
    return minimum * max(0, min(ctx.block.time_ns - start, issuance.YEAR_NS)) // issuance.YEAR_NS


def _release_cycle_of(ctx: Context, cycle: int) -> int:
    return cycle + ctx.params("rewards").release_delay_cycles


def held(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/rewards/held/<node>``: what the node holds in each unreleased cycle, its
    reputation, and its recent cycles (``QueryHeldRewardsResponse``)."""
    node = _node(args, "/rewards/held")
    first = keeper.released_through(ctx) + 1
    last = max(keeper.current_cycle(ctx), first)
    cycles = []
    total = 0
    for cycle in range(first, last + 1):
        kinds = keeper.held_by_kind(ctx, cycle, node)
        caught = keeper.was_caught(ctx, node, cycle)
        if not kinds and not caught:
            continue
        amount = sum(kinds.values())
        total += amount
        cycles.append({"cycle": str(cycle),
                       "executor_nicoin": str(kinds.get(keeper.EXECUTOR, 0)),
                       "verifier_nicoin": str(kinds.get(keeper.VERIFIER, 0)),
                       "issuance_nicoin": str(kinds.get(keeper.ISSUANCE, 0)),
                       "total_nicoin": str(amount),
                       "released_at_cycle": str(_release_cycle_of(ctx, cycle)),
                       "caught": caught})
    recent = list(range(last, max(last - HISTORY_ROWS - ctx.params(
        "rewards").release_delay_cycles, 0), -1))
    return {
        "node": node,
        "held_total_nicoin": str(total),
        "held": cycles,
        "reputation": keeper.get_reputation(ctx, node).as_json(),
        "history": [entry.as_json() for entry in keeper.node_history(ctx, node, recent)],
    }


def reputation(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/rewards/reputation/<node>``: the node's reputation and record (0 for a node the
    chain has not seen) (``QueryRewardsReputationResponse``)."""
    node = _node(args, "/rewards/reputation")
    return {"reputation": keeper.get_reputation(ctx, node).as_json()}


def reputations(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/rewards/reputations``: every node with a record, by address, a page at a time
    (``QueryRewardsReputationsResponse``)."""
    if args:
        raise BAD_QUERY("use /rewards/reputations (pages through the data)")
    page = page_request(data)
    rows, next_key = scan_page(ctx.table(REPUTATION), (), (page.key,) if page.key else None,
                               page.limit)
    return {
        "reputations": [keeper.Reputation(str(key[0]), **row).as_json() for key, row in rows],
        "pagination": pagination(None if next_key is None else next_key[0]),
    }


def cycle(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/rewards/cycle/<n>`` (0: in progress): the cycle's totals and its nodes, a page at
    a time by address (``QueryRewardsCycleResponse``)."""
    if len(args) != 1 or not is_decimal(args[0]) or args[0].startswith("-"):
        raise BAD_QUERY("use /rewards/cycle/<cycle> (0 for the cycle in progress)")
    number = parse_decimal(args[0]) or keeper.current_cycle(ctx)
    page = page_request(data, MAX_PAGE_LIMIT)
    start = (number, page.key) if page.key else None
    rows, next_key = scan_page(ctx.table(CYCLE_NODES), (number,), start, page.limit)
    return {
        "totals": keeper.get_cycle(ctx, number).as_json(),
        "released": number <= keeper.released_through(ctx),
        "released_at_cycle": str(_release_cycle_of(ctx, number)),
        "nodes": [keeper.NodeCycle(int(key[0]), str(key[1]), **row).as_json()
                  for key, row in rows],
        "pagination": pagination(None if next_key is None else next_key[1]),
    }
