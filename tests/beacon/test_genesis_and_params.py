"""The beacon's genesis section and parameter bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from abci_app.core.errors import ChainError, GenesisError
from abci_app.genesis import build_app_state, validate_app_state
from abci_app.modules.beacon import params
from abci_app.modules.beacon.errors import INVALID_PARAMS
from race_protocol.beacon.keys import EncryptionKey
from tests.beacon.net import WINDOWS, BeaconNet
from tests.harness import Chain, account


def exported(net: BeaconNet) -> dict[str, Any]:
    return net.chain.registry.export_genesis(net.chain.keeper_context())["beacon"]


def test_export_and_import_carry_keys_the_round_numbering_and_the_latest_output() -> None:
    net = BeaconNet.start()
    first = net.run_round()
    section = exported(net)
    assert section["next_round"] == "2"
    restarted = BeaconNet(Chain([10, 10, 10, 10], {"beacon": json.loads(json.dumps(section))}),
                          keys=net.keys)
    latest = restarted.chain.query("/beacon/latest")
    assert (latest["round"], latest["output"]) == ("1", first["round"]["output"])
    current = restarted.current()["round"]
    assert (current["round"], current["participants"]) == ("2", "4")
    assert restarted.run_round()["round"]["status"] == "BEACON_ROUND_STATUS_COMPLETE"


def test_genesis_keys_open_the_first_round_at_once() -> None:
    keys = {account(i): EncryptionKey.generate() for i in range(2)}
    section = {"params": WINDOWS, "keys": [
        {"operator": op, "public_key": k.public_key.hex()} for op, k in keys.items()]}
    net = BeaconNet(Chain([10, 10], {"beacon": section}), keys=keys)
    assert net.current()["round"]["participants"] == "2"
    assert net.run_round()["round"]["status"] == "BEACON_ROUND_STATUS_COMPLETE"


@pytest.mark.parametrize("section", [
    {"genesis_output": "zz"},
    {"genesis_output": "00" * 31},
    {"next_round": "0"},
    {"next_round": "\uff12"},  # a fullwidth digit: only ASCII digits are integers
    {"keys": [{"operator": "race1nope", "public_key": "00" * 32}]},
    {"keys": [{"operator": account(0), "public_key": "00" * 32}]},
    {"keys": "none"},
])
def test_a_bad_genesis_section_is_refused(section: dict[str, Any]) -> None:
    with pytest.raises(GenesisError):
        validate_app_state({**build_app_state({account(0): 1}), "beacon": section})


@pytest.mark.parametrize("changes", [
    {"commit_window_blocks": 0},
    {"recovery_window_blocks": params.MAX_WINDOW_BLOCKS + 1},
    {"threshold_ppm": 499_999},
    {"threshold_ppm": 1_000_000},
    {"max_share_units": 257},
    {"max_participants": 65, "max_share_units": 64},
    {"history_rounds": 0},
])
def test_params_outside_their_bounds_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(ChainError) as refused:
        params.validate(params.BeaconParams(**{**params.BeaconParams().__dict__, **changes}))
    assert refused.value.code == INVALID_PARAMS.code


def test_the_defaults_are_valid() -> None:
    params.validate(params.BeaconParams())
