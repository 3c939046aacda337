"""The rewards module's queries on every surface (the module's ABCI JSON is exactly the
proto3 JSON of its race.v1.Query response, through the client, REST and gRPC), and the
``race rewards show``, ``race reputation`` and ``race tokenomics`` commands answered by an
in-process chain."""

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

from governance import rewards_cli
from governance.main import app
from race_node.client.queries import ChainQueries, to_json
from race_node.client.rpc import CometRPC
from race_node.gateway.grpc_server import QueryService
from race_node.gateway.rest import chain_router
from race_protocol.gen.race.v1 import query_pb2_grpc, rewards_pb2
from tests.beacon.net import InProcessNode
from tests.beacon.test_queries import RecordedNode
from tests.rewards.net import RewardsNet


@pytest.fixture(scope="module")
def net() -> RewardsNet:
    """Cycle 1 released with settlements by nodes 0 and 1; cycle 2 holds node 1's."""
    net = RewardsNet.start(rewards={"release_delay_cycles": 1})
    net.fund_key(10**12)
    net.settle(net.operators[0], [(10, 20)])
    net.close_cycle()
    net.settle(net.operators[1], [(30, 40)])
    net.close_cycle()
    net.settle(net.operators[1], [(5, 6)])
    return net


def calls(net: RewardsNet) -> list[tuple[str, Message | None, str]]:
    operator = net.operators[1]
    return [
        ("Tokenomics", None, "/rewards/tokenomics"),
        ("HeldRewards", rewards_pb2.QueryHeldRewardsRequest(operator=operator),
         f"/rewards/held/{operator}"),
        ("RewardsReputation", rewards_pb2.QueryRewardsReputationRequest(operator=operator),
         f"/rewards/reputation/{operator}"),
        ("RewardsReputations", None, "/rewards/reputations"),
        ("RewardsCycle", rewards_pb2.QueryRewardsCycleRequest(cycle=1), "/rewards/cycle/1"),
        ("RewardsCycle", rewards_pb2.QueryRewardsCycleRequest(cycle=0), "/rewards/cycle/0"),
    ]


def test_every_rewards_method_answers_the_module_json(net: RewardsNet) -> None:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))
    for method, request, path in calls(net):
        assert queries.call_json(method, request) == net.chain.query(path), method
    params = queries.call_json("RewardsParams")["params"]
    assert params["release_delay_cycles"] == "1"
    held = queries.call_json("HeldRewards", rewards_pb2.QueryHeldRewardsRequest(
        operator=net.operators[1]))
    assert [h["cycle"] for h in held["held"]] == ["2", "3"]
    assert held["reputation"]["reputation"] == "1"


def test_rest_and_grpc_serve_the_tokenomics(net: RewardsNet) -> None:
    operator = net.operators[1]
    node = RecordedNode(net.chain, ["/rewards/tokenomics", f"/rewards/held/{operator}",
                                    "/rewards/cycle/1", f"/rewards/reputation/{operator}"])
    queries = ChainQueries(cast(CometRPC, node))
    rest = FastAPI()
    rest.include_router(chain_router(queries))
    client = TestClient(rest)
    tokenomics = client.get("/race/rewards/v1/tokenomics").json()
    assert tokenomics == net.chain.query("/rewards/tokenomics")
    assert tokenomics["current_batch"] == "1" and int(tokenomics["issued_nicoin"]) > 0
    assert client.get(f"/race/rewards/v1/held/{operator}").json() == \
        net.chain.query(f"/rewards/held/{operator}")
    assert client.get("/race/rewards/v1/cycles/1").json() == \
        net.chain.query("/rewards/cycle/1")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = query_pb2_grpc.QueryStub(channel).RewardsReputation(
                rewards_pb2.QueryRewardsReputationRequest(operator=operator), timeout=10)
    finally:
        server.stop(grace=None)
    assert to_json(answer) == net.chain.query(f"/rewards/reputation/{operator}")


@pytest.fixture
def cli(net: RewardsNet, monkeypatch: pytest.MonkeyPatch) -> RewardsNet:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))

    def query(home: Path, node: str | None, method: str,
              request: Message | None = None) -> Message:
        return queries.call(method, request)

    monkeypatch.setattr(rewards_cli, "query", query)
    return net


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.stdout
    return result.stdout


def test_rewards_show_lists_a_nodes_held_cycles_and_history(cli: RewardsNet) -> None:
    operator = cli.operators[1]
    document = json.loads(run("rewards", "show", operator, "--output", "json"))
    assert document == cli.chain.query(f"/rewards/held/{operator}")
    text = run("rewards", "show", operator)
    assert "held until release" in text and "recent cycles" in text and "released" in text


def test_rewards_show_without_a_node_shows_a_cycle(cli: RewardsNet) -> None:
    document = json.loads(run("rewards", "show", "--cycle", "1", "--output", "json"))
    assert document == cli.chain.query("/rewards/cycle/1")
    assert "rewards of cycle 1" in run("rewards", "show", "--cycle", "1")


def test_reputation_lists_every_node_or_one(cli: RewardsNet) -> None:
    everyone = json.loads(run("reputation", "--output", "json"))
    assert sorted(r["node"] for r in everyone["reputations"]) == sorted(cli.operators)
    one = json.loads(run("reputation", cli.operators[0], "--output", "json"))
    assert one["reputation"]["reputation"] == "1"
    assert run("reputation").count("race1") == len(cli.operators)


def test_tokenomics_prints_the_batches_and_the_funds(cli: RewardsNet) -> None:
    document = json.loads(run("tokenomics", "--output", "json"))
    assert document == cli.chain.query("/rewards/tokenomics")
    text = run("tokenomics")
    assert "5,555,556" in text and "646,751,788" in text  # Appendix F's first and last rows
    assert "training_fund" in text and "90.00%" in text


def test_help_has_examples() -> None:
    for command in (["rewards", "show"], ["reputation"], ["tokenomics"],
                    ["gov", "propose", "grant"]):
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Example" in result.stdout, command
