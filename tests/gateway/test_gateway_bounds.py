"""The gateway's bounds, through its real process in front of a real node
(docs/gateway.md, "Bounds"):

- a REST body larger than a tx could ever be is refused with 413 before it is read,
  whether its length is declared or it comes chunked;
- broadcasts that wait for their commit never take every worker: past a few per surface
  they are refused (gRPC RESOURCE_EXHAUSTED, REST 429) before their tx is broadcast, and
  queries keep answering while the others wait;
- a gRPC commit wait ends with its client's deadline, and frees its slot.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import grpc
import httpx
import pytest

from abci_app.tx import build_signed_tx
from race_node.client.broadcast import Signer
from race_node.client.rpc import tx_hash
from race_node.gateway.broadcast import MAX_TX_BYTES
from race_node.gateway.rest import MAX_BODY_BYTES, REST_COMMIT_WAITERS
from race_protocol.gen.race.v1 import bank_pb2, query_pb2, query_pb2_grpc
from tests.gateway.conftest import GatewayNet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FEE_NICOIN = 1000
# `race gateway serve` runs the gRPC gateway on 8 worker threads.
GRPC_WORKERS = 8
GRPC_COMMIT_WAITERS = GRPC_WORKERS // 2
# Disjoint signers per test, so no two tests share a sequence.
COMMITTED_SIGNER = 0
GRPC_SIGNERS = range(1, 1 + GRPC_WORKERS)
REST_SIGNERS = range(9, 9 + REST_COMMIT_WAITERS + 2)
DEADLINE_SIGNERS = range(19, 19 + GRPC_COMMIT_WAITERS + 1)
QUERY_DEADLINE_S = 3.0


def self_transfer(net: GatewayNet, signer: Signer, sequence: int = 0) -> bytes:
    """A signed 1-nicoin self-transfer: valid, cheap, and the only tx of its sequence."""
    message = bank_pb2.MsgSend(from_address=signer.address, to_address=signer.address,
                               amount_nicoin=1)
    return build_signed_tx(signer.private_key, net.chain_id, sequence, FEE_NICOIN, [message])


def after_a_fresh_block(net: GatewayNet) -> None:
    """Return just after a block commits: the next one is a whole block interval away."""
    with net.net.rpc(0) as rpc:
        rpc.wait_for_height(rpc.latest_height() + 1, timeout=30, poll_interval=0.05)


def raw_post(rest_url: str, headers: dict[str, str], chunks: Iterable[bytes]) -> tuple[int, str]:
    """POST /race/tx/v1/txs over a plain socket: (status, body) of the answer.

    A socket rather than an HTTP client so the test stops sending as soon as the gateway
    answers, as a careful client would: a client that insists on sending its whole body
    first finds the connection closed under it and never reads an early refusal.
    """
    split = urlsplit(rest_url)
    answer = b""
    with socket.create_connection((split.hostname or "127.0.0.1", split.port or 80),
                                  timeout=30) as connection:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        connection.sendall(f"POST /race/tx/v1/txs HTTP/1.1\r\nHost: gateway\r\n{head}\r\n"
                           .encode())
        for chunk in chunks:
            if select.select([connection], [], [], 0)[0]:
                break  # the gateway has answered before the whole body was sent
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        with contextlib.suppress(ConnectionResetError):
            while data := connection.recv(65536):
                answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace")


def http_chunk(data: bytes) -> bytes:
    """One chunk of a chunked HTTP/1.1 body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def price_answers(net: GatewayNet) -> bool:
    return httpx.get(f"{net.rest_url}/race/pricing/v1/price", timeout=10).status_code == 200


def test_a_declared_oversize_body_is_refused_before_it_is_read(gateway_net: GatewayNet) -> None:
    declared = 8 * 1024 * 1024
    status, body = raw_post(gateway_net.rest_url,
                            {"Content-Type": "application/json",
                             "Content-Length": str(declared)},
                            [b'{"tx_bytes": "AAAA'])
    assert status == 413
    assert f"at most {MAX_BODY_BYTES} bytes" in body
    assert price_answers(gateway_net)


def test_a_chunked_oversize_body_is_refused(gateway_net: GatewayNet) -> None:
    piece = b"A" * 65536
    pieces = MAX_BODY_BYTES // len(piece) + 2
    chunks = [http_chunk(b'{"tx_bytes": "'), *(http_chunk(piece) for _ in range(pieces)),
              http_chunk(b'"}'), b"0\r\n\r\n"]
    status, body = raw_post(gateway_net.rest_url,
                            {"Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"}, chunks)
    assert status == 413
    assert f"more than {MAX_BODY_BYTES} bytes" in body
    assert price_answers(gateway_net)


def test_a_tx_larger_than_any_mempool_takes_is_refused_on_grpc(gateway_net: GatewayNet) -> None:
    with grpc.insecure_channel(gateway_net.grpc_target) as channel, \
            pytest.raises(grpc.RpcError) as refused:
        query_pb2_grpc.TxServiceStub(channel).BroadcastTx(
            query_pb2.BroadcastTxRequest(tx_bytes=b"\0" * (MAX_TX_BYTES + 1)), timeout=10)
    assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_a_tx_within_the_bounds_is_committed_through_rest(gateway_net: GatewayNet) -> None:
    tx = self_transfer(gateway_net, gateway_net.signers[COMMITTED_SIGNER])
    answer = httpx.post(f"{gateway_net.rest_url}/race/tx/v1/txs",
                        json={"tx_bytes": base64.b64encode(tx).decode(),
                              "wait_for_commit": True}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 0 and int(answer.json()["height"]) > 0


def test_grpc_commit_waits_leave_workers_for_queries(gateway_net: GatewayNet) -> None:
    txs = [self_transfer(gateway_net, gateway_net.signers[i]) for i in GRPC_SIGNERS]
    after_a_fresh_block(gateway_net)
    with grpc.insecure_channel(gateway_net.grpc_target) as channel:
        tx_service = query_pb2_grpc.TxServiceStub(channel)
        calls = [tx_service.BroadcastTx.future(
            query_pb2.BroadcastTxRequest(tx_bytes=tx, wait_for_commit=True), timeout=60)
            for tx in txs]
        time.sleep(1.0)  # every call has reached the gateway by now
        started = time.monotonic()
        price = query_pb2_grpc.QueryStub(channel).Price(query_pb2.QueryPriceRequest(),
                                                        timeout=QUERY_DEADLINE_S)
        answered_in = time.monotonic() - started
        outcomes: list[grpc.StatusCode | query_pb2.BroadcastTxResponse] = []
        for call in calls:
            try:
                outcomes.append(call.result())
            except grpc.RpcError as error:
                outcomes.append(error.code())
    assert price.price_per_unit_nicoin > 0 and answered_in < QUERY_DEADLINE_S
    refused = [tx for tx, outcome in zip(txs, outcomes, strict=True)
               if outcome == grpc.StatusCode.RESOURCE_EXHAUSTED]
    committed = [outcome for outcome in outcomes
                 if isinstance(outcome, query_pb2.BroadcastTxResponse)]
    assert len(refused) == len(txs) - GRPC_COMMIT_WAITERS
    assert [(c.code, c.height > 0) for c in committed] == [(0, True)] * GRPC_COMMIT_WAITERS
    with gateway_net.net.rpc(0) as rpc:  # refused before broadcast: never on chain
        assert [rpc.tx(tx_hash(tx)) for tx in refused] == [None] * len(refused)


def test_rest_commit_waits_are_bounded_and_queries_keep_answering(
        gateway_net: GatewayNet) -> None:
    bodies = [{"tx_bytes": base64.b64encode(self_transfer(gateway_net,
                                                          gateway_net.signers[i])).decode(),
               "wait_for_commit": True} for i in REST_SIGNERS]
    after_a_fresh_block(gateway_net)
    with httpx.Client(base_url=gateway_net.rest_url, timeout=60) as client, \
            ThreadPoolExecutor(len(bodies)) as pool:
        answers = [pool.submit(client.post, "/race/tx/v1/txs", json=body) for body in bodies]
        time.sleep(1.0)
        price = client.get("/race/pricing/v1/price", timeout=QUERY_DEADLINE_S)
        statuses = sorted(answer.result().status_code for answer in answers)
        busy = [a.result() for a in answers if a.result().status_code == 429]
    assert price.status_code == 200
    assert statuses == [200] * REST_COMMIT_WAITERS + [429] * (len(bodies) - REST_COMMIT_WAITERS)
    assert all(b.headers["retry-after"] == "1" and "not broadcast" in b.json()["message"]
               for b in busy)


def test_a_grpc_commit_wait_ends_with_its_clients_deadline(gateway_net: GatewayNet) -> None:
    txs = [self_transfer(gateway_net, gateway_net.signers[i]) for i in DEADLINE_SIGNERS]
    after_a_fresh_block(gateway_net)
    with grpc.insecure_channel(gateway_net.grpc_target) as channel:
        tx_service = query_pb2_grpc.TxServiceStub(channel)
        impatient = [tx_service.BroadcastTx.future(
            query_pb2.BroadcastTxRequest(tx_bytes=tx, wait_for_commit=True), timeout=2)
            for tx in txs[:-1]]
        codes = []
        for call in impatient:
            with pytest.raises(grpc.RpcError) as gave_up:
                call.result()
            codes.append(gave_up.value.code())
        time.sleep(1.5)  # the gateway notices its callers have gone
        later = tx_service.BroadcastTx(
            query_pb2.BroadcastTxRequest(tx_bytes=txs[-1], wait_for_commit=True), timeout=30)
    assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * len(impatient)
    assert later.code == 0 and later.height > 0
