"""The race module's queries on every surface (the module's ABCI JSON is exactly the
proto3 JSON of its race.v1.Query response, through the client, REST and gRPC), and the
``race race`` / ``race provider`` commands answered by an in-process chain."""

from __future__ import annotations

import json
from concurrent import futures
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.protobuf.message import Message
from typer.testing import CliRunner

from governance import race_cli
from governance.main import app
from race_node.client.queries import NOT_FOUND_CODES, ChainQueries, QueryFailed, to_json
from race_node.client.rpc import CometRPC
from race_node.gateway.grpc_server import QueryService
from race_node.gateway.rest import chain_router
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc
from tests.beacon.net import InProcessNode
from tests.beacon.test_queries import RecordedNode
from tests.race_cycle.net import RaceNet, synthetic_leaves


@pytest.fixture(scope="module")
def net() -> RaceNet:
    """Cycle 1 closed with four accepted nodes; cycle 2 opening, node 0's samples open."""
    net = RaceNet.start(race_params={"open_window_blocks": 12})
    net.run_cycle({op: synthetic_leaves(20 + 3 * i, i) for i, op in enumerate(net.operators)})
    cycle = int(net.wait_for_status("racing")["cycle"])
    leaves = {op: synthetic_leaves(15 + i, 10 + i) for i, op in enumerate(net.operators)}
    net.block((op, net.commit_message(op, cycle, ls)) for op, ls in leaves.items())
    net.wait_for_status("opening")
    assert net.block([(net.operators[0], net.open_message(net.operators[0], cycle))])[0].ok
    return net


def calls(net: RaceNet) -> list[tuple[str, Message | None, str]]:
    operator = net.operators[0]
    return [
        ("RaceStatus", None, "/race/status"),
        ("RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=1), "/race/cycle/1"),
        ("RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=0), "/race/cycle/0"),
        ("RaceResults", query_pb2.QueryRaceResultsRequest(cycle=1), "/race/results/1"),
        ("RaceResults", query_pb2.QueryRaceResultsRequest(cycle=2), "/race/results/2"),
        ("RaceSamples", query_pb2.QueryRaceSamplesRequest(cycle=2, operator=operator),
         f"/race/samples/2/{operator}"),
        ("RaceProviders", None, "/race/providers"),
        ("RaceProvider", query_pb2.QueryRaceProviderRequest(operator=operator),
         f"/race/provider/{operator}"),
    ]


def test_every_race_method_answers_the_module_json(net: RaceNet) -> None:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))
    for method, request, path in calls(net):
        assert queries.call_json(method, request) == net.chain.query(path), method
    params = queries.call_json("RaceParams")["params"]
    assert params["sample_size"] == "8" and params["d_model"] == "64"
    samples = queries.call_json("RaceSamples", query_pb2.QueryRaceSamplesRequest(
        cycle=2, operator=net.operators[0]))
    assert len(samples["openings"]) == len(samples["ranks"]) == 8


def test_rest_and_grpc_serve_the_results(net: RaceNet) -> None:
    node = RecordedNode(net.chain, ["/race/results/1", "/race/cycle/99", "/race/status"])
    queries = ChainQueries(cast(CometRPC, node))
    rest = FastAPI()
    rest.include_router(chain_router(queries))
    client = TestClient(rest)
    from_rest = client.get("/race/race/v1/cycles/1/results").json()
    assert from_rest == net.chain.query("/race/results/1")
    assert {e["status"] for e in from_rest["entries"]} == {"RACE_ENTRY_STATUS_ACCEPTED"}
    with pytest.raises(QueryFailed) as missing:
        client.get("/race/race/v1/cycles/99")
    assert missing.value.code in NOT_FOUND_CODES
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            status = query_pb2_grpc.QueryStub(channel).RaceStatus(
                query_pb2.QueryRaceStatusRequest(), timeout=10)
    finally:
        server.stop(grace=None)
    assert to_json(status) == net.chain.query("/race/status")
    assert status.cycle.cycle == 2


@pytest.fixture
def cli(net: RaceNet, monkeypatch: pytest.MonkeyPatch) -> RaceNet:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))

    def query(home: Path, node: str | None, method: str,
              request: Message | None = None) -> Message:
        return queries.call(method, request)

    monkeypatch.setattr(race_cli, "query", query)
    return net


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stdout
    return result.stdout


def test_race_status_shows_the_window_and_its_deadline(cli: RaceNet) -> None:
    document = json.loads(run("race", "status", "--output", "json"))
    assert document == cli.chain.query("/race/status")
    text = run("race", "status")
    assert "opening" in text and f"block {document['window_end_height']}" in text


def test_race_results_lists_each_node(cli: RaceNet) -> None:
    document = json.loads(run("race", "results", "--cycle", "1", "--output", "json"))
    assert document == cli.chain.query("/race/results/1")
    text = run("race", "results", "--cycle", "1")
    for operator in cli.operators:  # long addresses fold across lines in a narrow terminal
        assert operator[:12] in text
    assert "yes" in text and "100.0%" in text  # three attesters and its own weight


def test_provider_list_shows_the_genesis_providers(cli: RaceNet) -> None:
    document = json.loads(run("provider", "list", "--output", "json"))
    assert [p["operator"] for p in document["providers"]] == sorted(cli.operators)
    assert all(int(p["power"]) > 0 for p in document["providers"])
    assert cli.operators[0][:12] in run("provider", "list")


def test_an_unknown_cycle_is_a_readable_error(cli: RaceNet) -> None:
    result = CliRunner().invoke(app, ["race", "results", "--cycle", "99", "--output", "json"])
    assert result.exit_code == 1
    assert "cycle 99 never started" in json.loads(result.stdout)["error"]
