"""The gRPC gateway: the ``race.v1.Query`` and ``race.v1.TxService`` services over a node.

Every Query method is answered through :class:`ChainQueries`, exactly as the REST gateway
and the CLI answer it. App refusals map to gRPC status codes (NOT_FOUND for an unknown
proposal or model, INVALID_ARGUMENT for a malformed request, UNAVAILABLE when the node does
not answer) with the app's log as the details.

A listing (:data:`~race_node.client.queries.PAGED_METHODS`) reads its page from the call's
metadata, ``page-key`` (where the page starts; absent: the first page) and ``page-limit``
(rows in the page; absent: the chain's default), and names the next page in the trailing
metadata ``next-page-key`` ("" after the last page). A page key the chain cannot read, or
page metadata on a method that is not a listing, is INVALID_ARGUMENT.

The server is bounded (docs/gateway.md, "Bounds"): ``workers`` threads answer calls, at
most ``max_calls`` calls are admitted at once (running or queued; more get
RESOURCE_EXHAUSTED), at most ``commit_waiters`` broadcasts (half the workers by default)
wait for their commit at once, each for no longer than its client's deadline or
``COMMIT_TIMEOUT_S``, and a request message is at most a tx of ``MAX_TX_BYTES`` plus its
envelope.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc

from race_node.client.queries import (
    BAD_REQUEST_CODES,
    METHODS,
    NOT_FOUND_CODES,
    PAGED_METHODS,
    ChainQueries,
    QueryFailed,
)
from race_node.client.rpc import CometRPC
from race_node.gateway.broadcast import (
    COMMIT_TIMEOUT_S,
    ENVELOPE_BYTES,
    MAX_TX_BYTES,
    BroadcastFailed,
    CommitWaiters,
    CommitWaitersBusy,
    TxTooLarge,
    broadcast_tx,
)
from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc


def grpc_status(failure: QueryFailed) -> grpc.StatusCode:
    if failure.unreachable:
        return grpc.StatusCode.UNAVAILABLE
    if failure.code in NOT_FOUND_CODES:
        return grpc.StatusCode.NOT_FOUND
    if failure.code in BAD_REQUEST_CODES or failure.code >= 100:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


PAGE_KEY_METADATA = "page-key"
PAGE_LIMIT_METADATA = "page-limit"
NEXT_PAGE_KEY_METADATA = "next-page-key"


def _page_asked(context: grpc.ServicerContext) -> tuple[str, int] | None:
    """The page the call's metadata asks for, or None when it names none."""
    asked = {key: value for key, value in context.invocation_metadata() or ()
             if key in (PAGE_KEY_METADATA, PAGE_LIMIT_METADATA)}
    if not asked:
        return None
    limit = str(asked.get(PAGE_LIMIT_METADATA, "0"))
    if not limit.isdecimal():
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"{PAGE_LIMIT_METADATA} must be a whole number, not {limit!r}")
    return str(asked.get(PAGE_KEY_METADATA, "")), int(limit)


def _query_method(name: str) -> Any:
    def method(self: QueryService, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            page = _page_asked(context)
            if page is None and name not in PAGED_METHODS:
                return self.queries.call(name, request)
            key, limit = page or ("", 0)
            response, next_key = self.queries.call_page(name, request, key, limit)
            context.set_trailing_metadata(((NEXT_PAGE_KEY_METADATA, next_key),))
            return response
        except QueryFailed as failure:
            context.abort(grpc_status(failure), f"code {failure.code}: {failure.log}")
            raise  # abort raises; this only tells type checkers

    method.__name__ = name
    method.__doc__ = f"race.v1.Query/{name}, answered through ChainQueries."
    return method


class QueryService(query_pb2_grpc.QueryServicer):
    """``race.v1.Query``: one method per entry of :data:`METHODS`."""

    def __init__(self, queries: ChainQueries) -> None:
        self.queries = queries


for _name in METHODS:
    setattr(QueryService, _name, _query_method(_name))


class TxService(query_pb2_grpc.TxServiceServicer):
    """``race.v1.TxService``: broadcast a signed tx through the gateway's node."""

    def __init__(self, rpc: CometRPC, commit_waiters: CommitWaiters) -> None:
        self.rpc = rpc
        self.commit_waiters = commit_waiters

    def BroadcastTx(self, request: query_pb2.BroadcastTxRequest,  # noqa: N802 (gRPC name)
                    context: grpc.ServicerContext) -> query_pb2.BroadcastTxResponse:
        if not request.tx_bytes:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_bytes is empty")
        timeout = COMMIT_TIMEOUT_S
        remaining = context.time_remaining()
        if remaining is not None:
            timeout = min(timeout, remaining)
        try:
            return broadcast_tx(self.rpc, request.tx_bytes, request.wait_for_commit,
                                waiters=self.commit_waiters, timeout=timeout,
                                still_wanted=context.is_active)
        except TxTooLarge as refused:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(refused))
        except CommitWaitersBusy as busy:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(busy))
        except BroadcastFailed as failure:
            status = (grpc.StatusCode.UNAVAILABLE if failure.unreachable
                      else grpc.StatusCode.DEADLINE_EXCEEDED)
            context.abort(status, str(failure))
        raise AssertionError("context.abort raises")


def create_server(rpc_url: str, address: str = "127.0.0.1:9090", workers: int = 8,
                  timeout: float = 10.0, max_calls: int | None = None,
                  commit_waiters: int | None = None) -> tuple[grpc.Server, int]:
    """A ready (not yet started) gRPC server bound to ``address``; returns the port.

    ``max_calls`` defaults to four times ``workers``; ``commit_waiters`` to half of them,
    so queries always have workers left.
    """
    rpc = CometRPC(rpc_url, timeout=timeout)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        maximum_concurrent_rpcs=max_calls or 4 * workers,
        options=[("grpc.max_receive_message_length", MAX_TX_BYTES + ENVELOPE_BYTES)])
    query_pb2_grpc.add_QueryServicer_to_server(QueryService(ChainQueries(rpc)), server)
    query_pb2_grpc.add_TxServiceServicer_to_server(
        TxService(rpc, CommitWaiters(commit_waiters or max(1, workers // 2))), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind the gRPC gateway to {address}")
    return server, port
