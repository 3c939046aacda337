"""The gateways without a node: every race.v1.Query method has a REST route, a node that
does not answer is a clear 503 / UNAVAILABLE rather than a crash, and a proposal's messages
come back as proto3 JSON (``Any`` with "@type") from the in-process chain."""

from __future__ import annotations

import socket
from concurrent import futures
from typing import Any, cast

import grpc
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from abci_app.core.authority import governance_authority
from abci_app.tx.codec import pack
from race_node.client.queries import METHODS, ChainQueries, QueryFailed, to_json
from race_node.client.rpc import CometRPC, QueryResult
from race_node.gateway.grpc_server import QueryService, create_server
from race_node.gateway.rest import chain_router, create_app
from race_protocol.gen.race.v1 import bank_pb2, gov_pb2, params_pb2, query_pb2, query_pb2_grpc
from tests.gov.harness import ICOIN, Chain, account

GOV = governance_authority()


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


class InProcessNode:
    """Answers ``abci_query`` from an in-process chain, as a node's CometBFT RPC would."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        answer = self.chain.query_raw(path)
        return QueryResult(code=answer.code, log=answer.log, value=bytes(answer.value),
                           height=answer.height, codespace=answer.codespace)


@pytest.fixture
def chain_with_a_proposal() -> Chain:
    """Proposal 1 carries a param change and a community spend (the gov account is funded)."""
    chain = Chain([10], {"gov": {"params": {"min_deposit_nicoin": ICOIN,
                                            "min_initial_deposit_nicoin": ICOIN}}})
    assert chain.deliver(account(100), bank_pb2.MsgSend(
        from_address=account(100), to_address=GOV, amount_nicoin=5 * ICOIN)).ok
    submitted = chain.deliver(account(0), gov_pb2.MsgSubmitProposal(
        proposer=account(0), title="spend and tune", initial_deposit_nicoin=ICOIN, messages=[
            pack(params_pb2.MsgUpdateParams(authority=GOV, changes=[
                params_pb2.ParamChange(module="gov", key="quorum_ppm", value="400000")])),
            pack(bank_pb2.MsgSend(from_address=GOV, to_address=account(100),
                                  amount_nicoin=ICOIN))]))
    assert submitted.ok, submitted.log
    return chain


def test_rest_and_grpc_answer_a_proposal_with_its_messages(
        chain_with_a_proposal: Chain) -> None:
    queries = ChainQueries(cast(CometRPC, InProcessNode(chain_with_a_proposal)))
    rest = FastAPI()
    rest.include_router(chain_router(queries))
    from_rest = TestClient(rest).get("/race/gov/v1/proposals/1").json()
    assert from_rest == chain_with_a_proposal.query("/gov/proposal/1")
    spend = from_rest["proposal"]["messages"][1]
    assert (spend["@type"], spend["from_address"], spend["amount_nicoin"]) == (
        "/race.v1.MsgSend", GOV, str(ICOIN))
    assert from_rest["proposal"]["kind"] == "MsgUpdateParams,MsgSend"

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = query_pb2_grpc.QueryStub(channel).Proposal(
                query_pb2.QueryProposalRequest(proposal_id=1), timeout=10)
    finally:
        server.stop(grace=None)
    assert to_json(answer) == from_rest
    unpacked = params_pb2.MsgUpdateParams()
    assert answer.proposal.messages[0].Unpack(unpacked)
    assert unpacked.changes[0].key == "quorum_ppm"


def test_a_message_type_the_client_does_not_know_is_a_clear_error(
        chain_with_a_proposal: Chain) -> None:
    """A chain newer than the client: its answer names a type no local proto declares."""

    class NewerNode(InProcessNode):
        def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
            answer = super().abci_query(path, data, height)
            return QueryResult(answer.code, answer.log, answer.value.replace(
                b"/race.v1.MsgSend", b"/race.v1.MsgFuture"), answer.height)

    queries = ChainQueries(cast(CometRPC, NewerNode(chain_with_a_proposal)))
    with pytest.raises(QueryFailed, match="race.v1.MsgFuture.*older than the chain"):
        queries.call("Proposal", query_pb2.QueryProposalRequest(proposal_id=1))


def test_openapi_describes_proposal_messages_as_packed_any(dead_node_url: str) -> None:
    document = TestClient(create_app(dead_node_url)).get("/openapi.json").json()
    schemas: dict[str, Any] = document["components"]["schemas"]
    assert schemas["race.v1.Proposal"]["properties"]["messages"]["items"] == {
        "$ref": "#/components/schemas/google.protobuf.Any"}
    packed = schemas["google.protobuf.Any"]
    assert packed["required"] == ["@type"] and packed["additionalProperties"] is True
