"""Queries of the race module, answered as ``race.v1`` JSON (proto/race/v1/query.proto):
the cycle in progress with its window and deadline, a cycle's schedule and params, its
results per node, a node's samples and openings, and the providers."""

from __future__ import annotations

import json
from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import MAX_PAGE_LIMIT, page_request, pagination, scan_page
from abci_app.modules.race import keeper
from abci_app.modules.race.cycle import own_weight
from abci_app.modules.race.errors import CYCLE_NOT_FOUND
from abci_app.modules.race.tables import ENTRIES, PROVIDERS
from abci_app.modules.staking import keeper as staking
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import race_pb2
from race_protocol.integers import is_decimal, parse_decimal

# What a cycle in each status is doing (the racing status has two windows: see ``window``).
PHASES: dict[int, str] = {
    keeper.AWAITING_SEED: "waiting for a complete beacon output (the race seed)",
    keeper.AWAITING_SAMPLE: "waiting for a beacon output after the commit deadline (samples)",
    keeper.OPENING: "opening: committed nodes open their sampled leaves",
    keeper.VALIDATING: "validation: weighted nodes recompute the samples and attest",
    keeper.CLOSED: "closed",
}


def _number(text: str, path: str) -> int:
    if not is_decimal(text) or text.startswith("-"):
        raise BAD_QUERY(f"use {path} with a cycle number (0 for the cycle in progress)")
    return parse_decimal(text)


def _cycle(ctx: Context, args: list[str], path: str) -> keeper.Cycle:
    if not args:
        raise BAD_QUERY(f"use {path}/<cycle> (0 for the cycle in progress)")
    number = _number(args[0], f"{path}/<cycle>")
    cycle = keeper.current_cycle(ctx) if number == 0 else keeper.get_cycle(ctx, number)
    if cycle is None:
        raise CYCLE_NOT_FOUND(f"cycle {number} never started, or its rows were pruned"
                              if number else "no cycle has started")
    return cycle


def _address(text: str, path: str) -> str:
    if not is_valid_address(text):
        raise BAD_QUERY(f"use {path} with a race1... address")
    return text


def window(cycle: keeper.Cycle, next_height: int) -> tuple[str, int, int]:
    """(what the cycle is doing, first block, last block of that window) at ``next_height``."""
    if cycle.status == keeper.RACING:
        if next_height <= cycle.race_end_height:
            return ("racing: providers run the Race on their sidecars",
                    cycle.race_start_height, cycle.race_end_height)
        return ("committing: nodes commit their proof roots",
                cycle.race_end_height + 1, cycle.commit_end_height)
    if cycle.status == keeper.OPENING:
        return PHASES[cycle.status], cycle.opened_height + 1, cycle.open_end_height
    if cycle.status == keeper.VALIDATING:
        return PHASES[cycle.status], cycle.open_end_height + 1, cycle.validation_end_height
    return PHASES.get(cycle.status, "unknown"), 0, 0


def status(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/status``: the cycle in progress, what it is doing, and the window's last block
    (``QueryRaceStatusResponse``)."""
    cycle = keeper.current_cycle(ctx)
    if cycle is None:
        raise CYCLE_NOT_FOUND("no cycle has started")
    next_height = ctx.block.height + 1
    phase, first, last = window(cycle, next_height)
    return {
        "height": str(ctx.block.height),
        "cycle": cycle.as_json(),
        "phase": phase,
        "window_start_height": str(first),
        "window_end_height": str(last),
        "blocks_left": str(max(0, last - ctx.block.height) if last else 0),
    }


def cycle_detail(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/cycle/<n>``: a cycle's schedule and outcome, and the params it runs with
    (``QueryRaceCycleResponse``); 0 for the cycle in progress."""
    if len(args) != 1:
        raise BAD_QUERY("use /race/cycle/<cycle> (0 for the cycle in progress)")
    cycle = _cycle(ctx, args, "/race/cycle")
    return {"cycle": cycle.as_json(),
            "params": {name: str(value) for name, value in json.loads(cycle.params).items()}}


def _entry_json(ctx: Context, cycle: keeper.Cycle, entry: keeper.Entry,
                live: tuple[list[int], list[int]] | None) -> dict[str, Any]:
    passes, fails = entry.pass_weight, entry.fail_weight
    if live is not None and entry.validation_index >= 0:
        passes = live[0][entry.validation_index] + own_weight(ctx, entry.operator)
        fails = live[1][entry.validation_index]
    provider = keeper.get_provider(ctx, entry.operator)
    return {
        "operator": entry.operator,
        "status": race_pb2.RaceEntryStatus.Name(entry.status),
        "root": entry.root.hex(),
        "count": str(entry.count),
        "commit_height": str(entry.commit_height),
        "samples": str(entry.samples),
        "opened_samples": str(entry.opened_samples),
        "validation_index": str(entry.validation_index),
        "pass_weight": str(passes),
        "fail_weight": str(fails),
        "attested_share_ppm": str(keeper.share_ppm(passes, cycle.total_weight)),
        "new_power": str(entry.new_power),
        "reason": entry.reason,
        "consensus_pub_key": provider.consensus_pub_key.hex() if provider else "",
    }


def results(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/results/<n>``: per node of a cycle: claimed count, attested share, status
    and new power (``QueryRaceResultsResponse``), a page at a time by operator."""
    if len(args) != 1:
        raise BAD_QUERY("use /race/results/<cycle> (0 for the cycle in progress)")
    cycle = _cycle(ctx, args, "/race/results")
    page = page_request(data, MAX_PAGE_LIMIT)
    start = (cycle.cycle, page.key) if page.key else None
    rows, next_key = scan_page(ctx.table(ENTRIES), (cycle.cycle,), start, page.limit)
    live = (keeper.tallies(ctx, cycle.cycle, cycle.opened)
            if cycle.status == keeper.VALIDATING else None)
    return {
        "cycle": cycle.as_json(),
        "entries": [_entry_json(ctx, cycle, keeper.Entry(key[0], key[1], **row), live)
                    for key, row in rows],
        "pagination": pagination(None if next_key is None else next_key[1]),
    }


def samples(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/samples/<n>/<operator>``: the ranks a node must open and the leaves it has
    opened (kept until the cycle closes) (``QueryRaceSamplesResponse``)."""
    if len(args) != 2:
        raise BAD_QUERY("use /race/samples/<cycle>/<race1... operator>")
    cycle = _cycle(ctx, args, "/race/samples")
    operator = _address(args[1], "/race/samples/<cycle>/<operator>")
    entry = keeper.get_entry(ctx, cycle.cycle, operator)
    ranks = keeper.ranks_of(cycle, entry) if entry is not None else ()
    provider = keeper.get_provider(ctx, operator)
    return {
        "cycle": str(cycle.cycle),
        "operator": operator,
        "committed": entry is not None,
        "ranks": [str(rank) for rank in ranks],
        "openings": [{"sample": leaf.sample, "rank": str(leaf.rank), "nonce": str(leaf.nonce),
                      "distance_scaled": str(leaf.distance_scaled)}
                     for leaf in keeper.openings(ctx, cycle.cycle, operator)],
        "consensus_pub_key": provider.consensus_pub_key.hex() if provider else "",
    }


def _provider_json(ctx: Context, provider: keeper.Provider) -> dict[str, Any]:
    power = staking.voting_power(ctx, staking.consensus_address(provider.consensus_pub_key))
    return {
        "operator": provider.operator,
        "consensus_pub_key": provider.consensus_pub_key.hex(),
        "sidecar_identity": provider.sidecar_identity,
        "registered_height": str(provider.registered_height),
        "first_cycle": str(provider.first_cycle),
        "power": str(power),
    }


def providers(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/providers``: registered providers by operator, with their power now
    (``QueryRaceProvidersResponse``), a page at a time."""
    page = page_request(data)
    rows, next_key = scan_page(ctx.table(PROVIDERS), (), (page.key,) if page.key else None,
                               page.limit)
    return {
        "providers": [_provider_json(ctx, keeper.Provider(key[0], **row)) for key, row in rows],
        "pagination": pagination(None if next_key is None else next_key[0]),
    }


def provider(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/race/provider/<operator>``: one provider and its record: cycles committed,
    accepted and caught in (``QueryRaceProviderResponse``)."""
    if len(args) != 1:
        raise BAD_QUERY("use /race/provider/<race1... operator>")
    operator = _address(args[0], "/race/provider/<operator>")
    found = keeper.get_provider(ctx, operator)
    record = keeper.get_record(ctx, operator)
    answer: dict[str, Any] = {
        "found": found is not None,
        "record": {
            "operator": operator,
            "committed": str(record.committed),
            "accepted": str(record.accepted),
            "caught": str(record.caught),
            "last_caught_cycle": str(record.last_caught_cycle),
            "last_caught_reason": record.last_caught_reason,
        },
    }
    if found is not None:
        answer["provider"] = _provider_json(ctx, found)
    return answer
