"""Queries of the beacon, answered as ``race.v1`` JSON (proto/race/v1/query.proto): the
latest output, a round with its participants and non-revealers, keys, deals and records."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.modules.beacon import keeper
from abci_app.modules.beacon.errors import DEAL_NOT_FOUND, ROUND_NOT_FOUND
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import beacon_pb2
from race_protocol.integers import is_decimal, parse_decimal


def _round_number(text: str, path: str) -> int:
    if not is_decimal(text) or text.startswith("-"):
        raise BAD_QUERY(f"use {path} with a round number (0 for the round in progress)")
    return parse_decimal(text)


def _address(args: list[str], path: str) -> str:
    if len(args) != 1 or not is_valid_address(args[0]):
        raise BAD_QUERY(f"use {path}/<race1... address>")
    return args[0]


def latest(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/beacon/latest``: the latest final output (``QueryBeaconLatestResponse``)."""
    final = keeper.latest_output(ctx)
    entry = keeper.current_round(ctx)
    return {
        "round": str(final.round),
        "output": final.output.hex(),
        "status": beacon_pb2.BeaconRoundStatus.Name(final.status),
        "final_height": str(final.final_height),
        "current_round": str(entry.round if entry is not None else 0),
    }


def round_detail(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/beacon/round/<n>``: a round, its participants, non-revealers and excluded
    participants (``QueryBeaconRoundResponse``); ``0`` for the round in progress."""
    if len(args) != 1:
        raise BAD_QUERY("use /beacon/round/<round> (0 for the round in progress)")
    number = _round_number(args[0], "/beacon/round/<round>")
    entry = keeper.current_round(ctx) if number == 0 else keeper.get_round(ctx, number)
    if entry is None:
        raise ROUND_NOT_FOUND("no round is in progress" if number == 0 else
                              f"round {number} never opened, or its rows were pruned")
    members = keeper.participants(ctx, entry.round)
    reveal_closed = entry.status not in (keeper.COMMIT, keeper.REVEAL)
    return {
        "round": entry.as_json(),
        "participants": [m.as_json() for m in members],
        "non_revealers": [m.address for m in members
                          if reveal_closed and m.status != keeper.REVEALED],
        "excluded": [m.address for m in members if m.status == keeper.EXCLUDED],
    }


def key(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/beacon/key/<address>``: an operator's encryption key (``QueryBeaconKeyResponse``)."""
    operator = _address(args, "/beacon/key")
    entry = keeper.get_key(ctx, operator)
    if entry is None:
        return {"found": False}
    return {"found": True, "key": {
        "operator": operator,
        "public_key": entry.public_key.hex(),
        "registered_height": str(entry.registered_height),
    }}


def deal(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/beacon/deal/<round>/<dealer>``: an accepted deal of the round in progress
    (``QueryBeaconDealResponse``)."""
    if len(args) != 2 or not is_valid_address(args[1]):
        raise BAD_QUERY("use /beacon/deal/<round>/<race1... dealer address>")
    number = _round_number(args[0], "/beacon/deal/<round>/<dealer>")
    stored = keeper.get_deal(ctx, number, args[1])
    if stored is None:
        raise DEAL_NOT_FOUND(f"no deal of {args[1]} in round {number} (deals are kept "
                             "until their round ends)")
    return {
        "round": str(number),
        "dealer": args[1],
        "commitments": [c.hex() for c in stored.commitments],
        "encrypted_shares": [y.hex() for y in stored.encrypted_shares],
    }


def record(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/beacon/record/<address>``: missed deals and reveals
    (``QueryBeaconRecordResponse``)."""
    address = _address(args, "/beacon/record")
    entry = keeper.get_record(ctx, address)
    return {"record": {
        "address": address,
        "rounds": str(entry.rounds),
        "missed_deals": str(entry.missed_deals),
        "missed_reveals": str(entry.missed_reveals),
        "last_missed_round": str(entry.last_missed_round),
    }}
