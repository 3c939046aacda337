"""The gateways without a node: every race.v1.Query method has a REST route, and a node
that does not answer is a clear 503 / UNAVAILABLE rather than a crash."""

import socket

import grpc
import pytest
from fastapi.testclient import TestClient

from race_node.client.queries import METHODS
from race_node.gateway.grpc_server import create_server
from race_node.gateway.rest import create_app
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dead_node_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def test_every_query_method_has_a_rest_route(dead_node_url: str) -> None:
    service = query_pb2.DESCRIPTOR.services_by_name["Query"]
    assert sorted(METHODS) == sorted(m.name for m in service.methods)
    paths = TestClient(create_app(dead_node_url)).get("/openapi.json").json()["paths"]
    assert len([p for p in paths if p.startswith("/race/") and "/tx/" not in p]) == len(METHODS)


def test_rest_reports_an_unreachable_node_as_503(dead_node_url: str) -> None:
    response = TestClient(create_app(dead_node_url)).get("/race/pricing/v1/price")
    assert response.status_code == 503
    assert "cannot reach" in response.json()["message"]


def test_rest_refuses_a_bad_status_filter_and_bad_tx_bytes(dead_node_url: str) -> None:
    client = TestClient(create_app(dead_node_url))
    assert client.get("/race/models/v1/models", params={"status": "gone"}).status_code == 400
    assert client.get("/race/gov/v1/proposals/0").status_code == 422
    bad_tx = client.post("/race/tx/v1/txs", json={"tx_bytes": "not base64!"})
    assert bad_tx.status_code == 400


def test_grpc_reports_an_unreachable_node_as_unavailable(dead_node_url: str) -> None:
    server, port = create_server(dead_node_url, "127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = query_pb2_grpc.QueryStub(channel)
            with pytest.raises(grpc.RpcError) as failure:
                stub.Price(query_pb2.QueryPriceRequest(), timeout=10)
            assert failure.value.code() is grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.RpcError) as bad:
                stub.Model(query_pb2.QueryModelRequest(id="a/b"), timeout=10)
            assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(grace=None)


def test_openapi_describes_each_answer_with_its_proto_schema(dead_node_url: str) -> None:
    document = TestClient(create_app(dead_node_url)).get("/openapi.json").json()
    answer = document["paths"]["/race/models/v1/models"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/race.v1.QueryModelsResponse"}
    model = document["components"]["schemas"]["race.v1.Model"]["properties"]
    assert model["units_of_compute_per_token"] == {"type": "string", "format": "uint64"}
    assert "MODEL_STATUS_ACTIVE" in model["status"]["enum"]
