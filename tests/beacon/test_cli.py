"""``race beacon status``: the latest output and the round in progress, or one round, as
tables or JSON, answered here by an in-process chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from google.protobuf.message import Message
from typer.testing import CliRunner

from governance import beacon_cli
from governance.main import app
from race_node.client.queries import ChainQueries
from race_node.client.rpc import CometRPC
from tests.beacon.net import BeaconNet, InProcessNode


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> BeaconNet:
    net = BeaconNet.start()
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))

    def query(home: Path, node: str | None, method: str,
              request: Message | None = None) -> Message:
        return queries.call(method, request)

    monkeypatch.setattr(beacon_cli, "query", query)
    return net


def race(*args: str) -> Any:
    result = CliRunner().invoke(app, ["beacon", *args])
    assert result.exit_code == 0, result.stdout
    return result.stdout


def test_status_shows_the_genesis_value_and_the_round_in_progress(net: BeaconNet) -> None:
    document = json.loads(race("status", "--output", "json"))
    assert document["latest"]["round"] == "0"
    assert document["current"]["round"]["status"] == "BEACON_ROUND_STATUS_COMMIT"
    assert "genesis value" in race("status")


def test_status_of_a_round_lists_its_non_revealers_and_output(net: BeaconNet) -> None:
    final = net.run_round(withhold=[net.operators[0]])
    document = json.loads(race("status", "--round", "1", "--output", "json"))
    assert document == final
    text = race("status", "--round", "1")
    assert net.operators[0] in text and final["round"]["output"][:16] in text


def test_an_unknown_round_is_a_readable_error(net: BeaconNet) -> None:
    result = CliRunner().invoke(app, ["beacon", "status", "--round", "99", "--output", "json"])
    assert result.exit_code == 1
    assert "round 99 never opened" in json.loads(result.stdout)["error"]
