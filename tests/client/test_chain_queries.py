"""Typed bank, auth and staking queries, and the gateways that serve them, on a real node."""

from __future__ import annotations

import grpc
import pytest
from fastapi.testclient import TestClient

from abci_app.modules.auth.errors import ACCOUNT_NOT_FOUND
from abci_app.modules.bank.errors import INVALID_ADDRESS
from abci_app.tx import address_from_public_key
from race_node.client.keyring import Keyring
from race_node.client.queries import ChainQueries
from race_node.gateway.grpc_server import create_server
from race_node.gateway.rest import create_app
from race_node.node.runner import NodeRunner
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc
from tests.client.live_node import GENESIS_BALANCE_NICOIN

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

STRANGER = address_from_public_key(bytes(32))


@pytest.fixture
def operator(node: NodeRunner) -> str:
    return Keyring(node.home.keyring_dir).show("validator").address


def test_typed_queries_decode_bank_auth_and_staking(node: NodeRunner, operator: str) -> None:
    with node.rpc() as rpc:
        queries = ChainQueries(rpc)
        balance = queries.balance_nicoin(operator)
        supply = queries.call_json("Supply")
        account = queries.account(operator)
        validators = queries.validators()
        params = queries.auth_params()

        assert 0 < balance <= GENESIS_BALANCE_NICOIN
        assert int(supply["amount_nicoin"]) >= balance
        assert account is not None and account.address == operator
        assert queries.account(STRANGER) is None
        assert queries.balance_nicoin(STRANGER) == 0
        assert [v.operator for v in validators] == [operator]
        assert params.min_fee_nicoin > 0


def test_rest_gateway_serves_bank_auth_and_staking(node: NodeRunner, operator: str) -> None:
    client = TestClient(create_app(node.home.rpc_url()))

    balance = client.get(f"/race/bank/v1/balances/{operator}")
    unknown = client.get(f"/race/auth/v1/accounts/{STRANGER}")
    malformed = client.get("/race/bank/v1/balances/race1notanaddress")
    validators = client.get("/race/staking/v1/validators").json()

    assert balance.status_code == 200 and int(balance.json()["amount_nicoin"]) > 0
    assert unknown.status_code == 404 and unknown.json()["code"] == ACCOUNT_NOT_FOUND.code
    assert malformed.status_code == 400 and malformed.json()["code"] == INVALID_ADDRESS.code
    assert validators["validators"][0]["operator"] == operator
    assert client.get(f"/race/auth/v1/accounts/{operator}").json()["account"]["address"] == (
        operator)
    assert int(client.get("/race/auth/v1/params").json()["params"]["min_fee_nicoin"]) > 0
    assert client.get("/race/bank/v1/params").json()["params"]["send_enabled"] is True


def test_grpc_gateway_serves_bank_auth_and_staking(node: NodeRunner, operator: str) -> None:
    server, port = create_server(node.home.rpc_url(), "127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = query_pb2_grpc.QueryStub(channel)
            balance = stub.Balance(query_pb2.QueryBalanceRequest(address=operator), timeout=10)
            validators = stub.Validators(query_pb2.QueryValidatorsRequest(), timeout=10)
            with pytest.raises(grpc.RpcError) as missing:
                stub.Account(query_pb2.QueryAccountRequest(address=STRANGER), timeout=10)
    finally:
        server.stop(grace=None)

    assert balance.amount_nicoin > 0
    assert validators.total_power > 0
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
