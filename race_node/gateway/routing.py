"""What every REST route module of the gateway shares: the OpenAPI 200 response of a
``race.v1`` answer, and the page of a listing.

A listing (a method of :data:`~race_node.client.queries.PAGED_METHODS`) takes the optional
query parameters ``page_key`` (where the page starts; "" or absent: the first page) and
``page_limit`` (rows in the page; 0 or absent: the chain's default), and answers with the
``X-Next-Page-Key`` header: the ``page_key`` of the next page, "" after the last. A key the
chain cannot read is a 400 with the chain's code 4 (bad query) and its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from google.protobuf.message import Message

from abci_app.core.paging import MAX_PAGE_KEY_CHARS, MAX_PAGE_LIMIT
from race_node.client.queries import METHODS
from race_node.gateway.proto_schema import schema_ref
from race_protocol.gen.race.v1 import query_pb2

JSON = dict[str, Any]
NEXT_PAGE_KEY_HEADER = "X-Next-Page-Key"


@dataclass(frozen=True)
class PageParams:
    """The page a listing route is asked for."""

    key: str = ""
    limit: int = 0


def page_params(
    page_key: Annotated[str, Query(description=(
        "where the page starts: the X-Next-Page-Key (or pagination.next_key) of the page "
        f"before; absent for the first page (at most {MAX_PAGE_KEY_CHARS} characters)"))] = "",
    page_limit: Annotated[int, Query(description=(
        f"rows in the page, 1 to {MAX_PAGE_LIMIT}; absent or 0: the chain's default"))] = 0,
) -> PageParams:
    return PageParams(page_key, page_limit)


Page = Annotated[PageParams, Depends(page_params)]
# answer(method, request): one race.v1.Query answer as proto3 JSON.
Answer = Callable[[str, Message | None], JSON]
# page_answer(method, request, page, response): one page of a listing as proto3 JSON; the
# next page's key goes in the response's X-Next-Page-Key header.
PageAnswer = Callable[[str, Message | None, PageParams, Response], JSON]


def ok(method: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI 200 response of a route: the proto3 JSON of ``method``'s response (and,
    for a listing, the header that names the next page)."""
    response_type = (query_pb2.BroadcastTxResponse if method == "BroadcastTx"
                     else METHODS[method].response_type)
    described: dict[str, Any] = {
        "description": f"race.v1 {method} answer (proto3 JSON)",
        "content": {"application/json": {"schema": schema_ref(response_type.DESCRIPTOR)}}}
    if method in METHODS and METHODS[method].paged:
        described["headers"] = {NEXT_PAGE_KEY_HEADER: {
            "description": "the page_key of the next page; empty after the last page",
            "schema": {"type": "string"}}}
    return {200: described}
