"""Listings followed page by page on every surface, from an in-process chain with five
proposals: the client's page, iterator and read-everything helpers, the REST gateway's
``page_key`` / ``page_limit`` and ``X-Next-Page-Key``, the gRPC gateway's ``page-key`` /
``page-limit`` metadata and ``next-page-key`` trailer, and the CLI's list commands, which
read every page; a page key the chain cannot read is a clear 400 / INVALID_ARGUMENT."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import nullcontext
from typing import Any, cast

import grpc
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from abci_app.core.errors import BAD_QUERY
from governance import common
from governance.main import app as cli_app
from race_node.client.queries import METHODS, PAGED_METHODS, ChainQueries, QueryFailed
from race_node.client.rpc import CometRPC, QueryResult
from race_node.gateway.grpc_server import QueryService
from race_node.gateway.rest import create_app
from race_node.gateway.routing import NEXT_PAGE_KEY_HEADER
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from tests.gov.harness import ICOIN, Chain
from tests.gov.test_bounded_work import GENESIS
from tests.gov.test_gov_module import submit

PROPOSALS = 5


class ThreadOwnedNode:
    """Answers ``abci_query`` from an in-process chain, as a node's CometBFT RPC would.

    The in-memory store belongs to the thread that opened it and the gateways answer from
    worker threads, so one thread owns the chain and runs every query. With ``page_rows``,
    a page asked without a limit holds that many proposals (the chain's default is 100).
    """

    def __init__(self, page_rows: int = 0, build: Callable[[], Chain] | None = None) -> None:
        self.owner = futures.ThreadPoolExecutor(max_workers=1)
        self.chain = self.owner.submit(build or self._build).result()
        self.page_rows = page_rows
        self.asked: list[tuple[str, bytes]] = []

    @staticmethod
    def _build() -> Chain:
        chain = Chain([10], GENESIS)
        for _ in range(PROPOSALS):
            submit(chain, deposit=ICOIN)
        return chain

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        self.asked.append((path, data))
        if self.page_rows and path.startswith(("/gov/proposals", "/race/providers")):
            page = json.loads(data) if data else {}
            page.setdefault("limit", self.page_rows)
            data = json.dumps(page).encode()
        answer = self.owner.submit(
            self.chain.app.query, abci.RequestQuery(path=path, data=data)).result()
        return QueryResult(code=answer.code, log=answer.log, value=bytes(answer.value),
                           height=answer.height, codespace=answer.codespace)

    def close(self) -> None:
        """Close the store on the thread that owns it."""
        self.owner.submit(self.chain.app.close).result()
        self.owner.shutdown()


@pytest.fixture(scope="module")
def node() -> Iterator[ThreadOwnedNode]:
    owned = ThreadOwnedNode()
    try:
        yield owned
    finally:
        owned.close()


@pytest.fixture
def queries(node: ThreadOwnedNode) -> ChainQueries:
    return ChainQueries(cast(CometRPC, node))


def ids(response: Any) -> list[int]:
    return [p.id for p in response.proposals]


def test_the_client_reads_one_page_every_page_or_all_of_them(queries: ChainQueries) -> None:
    first, key = queries.call_page("Proposals", None, page_limit=2)
    second, after = queries.call_page("Proposals", None, key, 2)
    pages = [(ids(page), next_key) for page, next_key in queries.pages("Proposals",
                                                                       page_limit=2)]
    everything, end = queries.call_all("Proposals")
    three, rest_key = queries.call_all("Proposals", limit=3)
    capped, capped_key = queries.call_all(
        "Deposits", query_pb2.QueryDepositsRequest(proposal_id=1), max_pages=1)

    assert (ids(first), key, ids(second), after) == ([1, 2], "3", [3, 4], "5")
    assert pages == [([1, 2], "3"), ([3, 4], "5"), ([5], "")]
    assert (ids(everything), end) == ([1, 2, 3, 4, 5], "")
    assert (ids(three), rest_key) == ([1, 2, 3], "4")
    assert len(capped.deposits) == 1 and capped_key == ""
    assert "Proposals" in PAGED_METHODS and "Price" not in PAGED_METHODS


def test_the_client_refuses_a_page_it_cannot_ask_for(queries: ChainQueries) -> None:
    for method, key, limit in (("Proposals", "not-an-id", 0), ("Proposals", "x" * 257, 0),
                               ("Proposals", "", 1001), ("Price", "1", 0)):
        with pytest.raises(QueryFailed) as refused:
            queries.call_page(method, None, key, limit)
        assert refused.value.code == BAD_QUERY.code, (method, key, limit)
    with pytest.raises(QueryFailed, match="not a paged listing"):
        next(queries.pages("Price"))


def rest_client(node: ThreadOwnedNode) -> TestClient:
    """The real REST gateway (its error handlers included), its node's RPC answered by
    ``node``."""
    app = create_app("http://127.0.0.1:9")
    app.state.rpc.abci_query = node.abci_query
    return TestClient(app, raise_server_exceptions=False)


def test_rest_follows_a_listing_to_its_end(node: ThreadOwnedNode) -> None:
    client = rest_client(node)

    seen, key, pages = [], "", 0
    while True:
        params = {"page_limit": 2, **({"page_key": key} if key else {})}
        page = client.get("/race/gov/v1/proposals", params=params)
        assert page.status_code == 200, page.text
        seen += [p["id"] for p in page.json()["proposals"]]
        key, pages = page.headers[NEXT_PAGE_KEY_HEADER], pages + 1
        if not key:
            break
    plain = client.get("/race/gov/v1/proposals")
    deposits = client.get("/race/gov/v1/proposals/1/deposits", params={"page_limit": 1})

    assert (seen, pages) == (["1", "2", "3", "4", "5"], 3)
    assert [p["id"] for p in plain.json()["proposals"]] == seen
    assert plain.headers[NEXT_PAGE_KEY_HEADER] == ""
    assert deposits.status_code == 200 and deposits.headers[NEXT_PAGE_KEY_HEADER] == ""


@pytest.mark.parametrize(("route", "params"), [
    ("/race/gov/v1/proposals", {"page_key": "not-an-id"}),
    ("/race/gov/v1/proposals", {"page_key": "x" * 300}),
    ("/race/gov/v1/proposals", {"page_limit": 5000}),
    ("/race/verification/v1/blocks/1/tasks", {"page_key": "zz"}),
])
def test_rest_answers_a_bad_page_with_a_clear_400(node: ThreadOwnedNode, route: str,
                                                 params: dict[str, Any]) -> None:
    refused = rest_client(node).get(route, params=params)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == BAD_QUERY.code and refused.json()["message"]


def test_every_listing_route_takes_a_page_key_and_names_the_next(dead_node_url: str) -> None:
    document = TestClient(create_app(dead_node_url)).get("/openapi.json").json()
    paged_responses = {f"#/components/schemas/{METHODS[m].response_type.DESCRIPTOR.full_name}"
                       for m in PAGED_METHODS}
    listings = 0
    for path, operations in document["paths"].items():
        for operation in operations.values():
            answer = operation["responses"]["200"]
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            names = {p["name"] for p in operation.get("parameters", [])}
            if schema.get("$ref") in paged_responses:
                listings += 1
                assert {"page_key", "page_limit"} <= names, path
                assert NEXT_PAGE_KEY_HEADER in answer["headers"], path
            else:
                assert "page_key" not in names, path
    assert listings == len(PAGED_METHODS)


@pytest.fixture
def dead_node_url() -> str:
    return "http://127.0.0.1:9"


def test_grpc_follows_a_listing_to_its_end(queries: ChainQueries) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(queries), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = query_pb2_grpc.QueryStub(channel)
            seen, key = [], ""
            while True:
                metadata = [("page-limit", "2")] + ([("page-key", key)] if key else [])
                page, call = stub.Proposals.with_call(query_pb2.QueryProposalsRequest(),
                                                      metadata=metadata, timeout=10)
                seen += ids(page)
                key = dict(call.trailing_metadata())["next-page-key"]
                if not key:
                    break
            refusals = []
            for method, request, metadata in (
                    ("Proposals", query_pb2.QueryProposalsRequest(), [("page-key", "nope")]),
                    ("Proposals", query_pb2.QueryProposalsRequest(), [("page-limit", "two")]),
                    ("Price", query_pb2.QueryPriceRequest(), [("page-key", "1")])):
                with pytest.raises(grpc.RpcError) as refused:
                    getattr(stub, method)(request, metadata=metadata, timeout=10)
                refusals.append((refused.value.code(), refused.value.details()))
            plain = stub.Price(query_pb2.QueryPriceRequest(), timeout=10)
    finally:
        server.stop(grace=None)

    assert seen == [1, 2, 3, 4, 5]
    assert all(code is grpc.StatusCode.INVALID_ARGUMENT for code, _ in refusals)
    assert f"code {BAD_QUERY.code}" in refusals[0][1] and "proposal id" in refusals[0][1]
    assert "page-limit" in refusals[1][1] and "not a paged listing" in refusals[2][1]
    assert plain.price_per_unit_nicoin > 0


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadOwnedNode]:
    """The CLI's node, answering proposals two to a page."""
    owned = ThreadOwnedNode(page_rows=2)
    monkeypatch.setattr(common, "connect", lambda home, node, timeout=10.0: nullcontext(owned))
    try:
        yield owned
    finally:
        owned.close()


def test_the_cli_lists_every_page_or_stops_at_its_limit(small_pages: ThreadOwnedNode) -> None:
    runner = CliRunner()
    everything = runner.invoke(cli_app, ["gov", "list", "--output", "json"])
    queried = len(small_pages.asked)
    limited = runner.invoke(cli_app, ["gov", "list", "--limit", "3", "--output", "json"])
    text = runner.invoke(cli_app, ["gov", "list"], env={"COLUMNS": "160"})

    assert everything.exit_code == 0, everything.output
    assert [p["id"] for p in json.loads(everything.stdout)["proposals"]] == [
        "1", "2", "3", "4", "5"]
    assert queried == 3 and everything.stderr == ""
    assert limited.exit_code == 0, limited.output
    assert [p["id"] for p in json.loads(limited.stdout)["proposals"]] == ["1", "2", "3"]
    assert "more remain" in limited.stderr and "'4'" in limited.stderr
    assert text.exit_code == 0, text.output
    assert all(re.search(rf"^\W*{i}\s", text.stdout, re.MULTILINE)
               for i in range(1, PROPOSALS + 1))


def test_every_list_command_says_how_it_pages() -> None:
    for command in (["gov", "list"], ["models", "list"], ["provider", "list"],
                    ["race", "results"], ["verification", "disputes"], ["rewards", "show"],
                    ["reputation"]):
        result = CliRunner().invoke(cli_app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, command
        assert "--limit" in result.stdout and "page" in result.stdout, command


def test_a_listing_read_in_pages_keeps_its_other_fields_and_says_where_it_stopped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three providers, one to a page: the merged answer lists them in order, and its
    pagination names where a limited read stopped."""
    owned = ThreadOwnedNode(page_rows=1, build=lambda: Chain([10, 20, 30]))
    monkeypatch.setattr(common, "connect", lambda home, node, timeout=10.0: nullcontext(owned))
    try:
        queries = ChainQueries(cast(CometRPC, owned))
        single = queries.call_page("RaceProviders")
        every, end = queries.call_all("RaceProviders")
        two, rest = queries.call_all("RaceProviders", limit=2)
        listed = CliRunner().invoke(cli_app, ["provider", "list", "--limit", "2", "--output",
                                              "json"])
    finally:
        owned.close()

    operators = [p.operator for p in every.providers]
    assert len(single[0].providers) == 1 and single[1] == operators[1]
    assert len(operators) == 3 and end == "" and every.pagination.next_key == ""
    assert [p.operator for p in two.providers] == operators[:2]
    assert rest == two.pagination.next_key == operators[2]
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert [p["operator"] for p in document["providers"]] == operators[:2]
    assert document["pagination"] == {"next_key": operators[2]}
    assert "more remain" in listed.stderr
