"""The beacon's queries on every surface: the module's ABCI JSON is exactly the proto3 JSON
of its race.v1.Query response, through the client, the REST gateway and gRPC."""

from __future__ import annotations

from concurrent import futures
from typing import cast

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from abci_app.modules.beacon.errors import DEAL_NOT_FOUND
from race_node.client.queries import NOT_FOUND_CODES, ChainQueries, QueryFailed, to_json
from race_node.client.rpc import CometRPC, QueryResult
from race_node.gateway.grpc_server import QueryService
from race_node.gateway.rest import chain_router
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc
from tests.beacon.net import BeaconNet, InProcessNode
from tests.harness import Chain


class RecordedNode(InProcessNode):
    """The answers to ``paths``, read on this thread: the gateways serve from worker
    threads, and the in-memory store belongs to the thread that opened it."""

    def __init__(self, chain: Chain, paths: list[str]) -> None:
        super().__init__(chain)
        self.answers = {path: super(RecordedNode, self).abci_query(path) for path in paths}

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        return self.answers[path]


@pytest.fixture(scope="module")
def net() -> BeaconNet:
    """Round 1 final with a recovered secret; round 2 in its recovery window with one
    withheld deal."""
    net = BeaconNet.start()
    net.run_round(withhold=[net.operators[0]])
    net.deal()
    net.reveal(net.operators[1:])
    net.wait_for_window("recovery")
    return net


def test_every_beacon_method_answers_the_module_json(net: BeaconNet) -> None:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))
    dealer, operator = net.operators[0], net.operators[1]
    calls = [
        ("BeaconLatest", None, "/beacon/latest"),
        ("BeaconRound", query_pb2.QueryBeaconRoundRequest(round=1), "/beacon/round/1"),
        ("BeaconRound", query_pb2.QueryBeaconRoundRequest(round=0), "/beacon/round/0"),
        ("BeaconKey", query_pb2.QueryBeaconKeyRequest(operator=operator),
         f"/beacon/key/{operator}"),
        ("BeaconDeal", query_pb2.QueryBeaconDealRequest(round=2, dealer=dealer),
         f"/beacon/deal/2/{dealer}"),
        ("BeaconRecord", query_pb2.QueryBeaconRecordRequest(address=dealer),
         f"/beacon/record/{dealer}"),
    ]
    for method, request, path in calls:
        assert queries.call_json(method, request) == net.chain.query(path), method
    assert queries.call_json("BeaconParams")["params"]["commit_window_blocks"] == "3"


def test_rest_and_grpc_serve_a_round(net: BeaconNet) -> None:
    node = RecordedNode(net.chain, ["/beacon/round/1", "/beacon/round/99", "/beacon/latest"])
    queries = ChainQueries(cast(CometRPC, node))
    rest = FastAPI()
    rest.include_router(chain_router(queries))
    client = TestClient(rest)
    from_rest = client.get("/race/beacon/v1/rounds/1").json()
    assert from_rest == net.chain.query("/beacon/round/1")
    assert from_rest["non_revealers"] == [net.operators[0]]
    with pytest.raises(QueryFailed) as missing:  # the REST and gRPC gateways' not-found
        client.get("/race/beacon/v1/rounds/99")
    assert missing.value.code in NOT_FOUND_CODES
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            latest = query_pb2_grpc.QueryStub(channel).BeaconLatest(
                query_pb2.QueryBeaconLatestRequest(), timeout=10)
    finally:
        server.stop(grace=None)
    assert to_json(latest) == net.chain.query("/beacon/latest")
    assert latest.round == 1 and len(bytes.fromhex(latest.output)) == 32


def test_a_missing_deal_is_not_found(net: BeaconNet) -> None:
    queries = ChainQueries(cast(CometRPC, InProcessNode(net.chain)))
    with pytest.raises(QueryFailed) as missing:
        queries.call("BeaconDeal", query_pb2.QueryBeaconDealRequest(round=1,
                                                                     dealer=net.operators[0]))
    assert DEAL_NOT_FOUND.matches(missing.value.code)
