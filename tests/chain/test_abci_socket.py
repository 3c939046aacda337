"""The ABCI socket server spoken to over real sockets with CometBFT's framing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.abci.server import decode_varint, encode_varint, frame, serve
from race_protocol.gen.tendermint.abci import types_pb2 as abci

from .conftest import Chain, start_chain

REPO = Path(__file__).resolve().parents[2]


def _request(**kind: object) -> bytes:
    return frame(abci.Request(**kind).SerializeToString())


async def _read_responses(reader: asyncio.StreamReader, count: int) -> list[abci.Response]:
    buffer = b""
    responses: list[abci.Response] = []
    while len(responses) < count:
        chunk = await asyncio.wait_for(reader.read(65536), timeout=10)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
        while True:
            header = decode_varint(buffer, 0)
            if header is None or header[1] + header[0] > len(buffer):
                break
            length, start = header
            responses.append(abci.Response.FromString(buffer[start : start + length]))
            buffer = buffer[start + length :]
    return responses


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Chain]]:
    chain = start_chain(None)
    path = str(tmp_path / "app.sock")
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(
        serve(chain.app, f"unix://{path}", max_message_bytes=1 << 20, stop=stop,
              ready=ready.set)
    )
    await asyncio.wait_for(ready.wait(), 10)
    yield path, chain
    stop.set()
    await task
    chain.app.close()


def test_varint_matches_go_uvarint() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(300) == b"\xac\x02"
    assert decode_varint(b"\xac\x02", 0) == (300, 2)
    assert decode_varint(b"\xac", 0) is None


async def test_pipelined_requests_get_in_order_replies(
    served: tuple[str, Chain], outsider: str
) -> None:
    path, chain = served
    reader, writer = await asyncio.open_unix_connection(path)
    good = chain.send_tx(0, outsider, 5)
    writer.write(
        _request(echo=abci.RequestEcho(message="hello"))
        + _request(info=abci.RequestInfo(version="0.38.26"))
        + _request(check_tx=abci.RequestCheckTx(tx=good))
        + _request(check_tx=abci.RequestCheckTx(tx=b"\x00garbage"))
        + _request(query=abci.RequestQuery(path=f"/bank/balance/{outsider}"))
        + _request(flush=abci.RequestFlush())
    )
    await writer.drain()

    replies = await _read_responses(reader, 6)

    assert [r.WhichOneof("value") for r in replies] == [
        "echo", "info", "check_tx", "check_tx", "query", "flush"
    ]
    assert replies[0].echo.message == "hello"
    assert replies[1].info.last_block_height == 1
    assert replies[2].check_tx.code == 0
    assert replies[3].check_tx.code == 21 and replies[3].check_tx.log
    assert json.loads(replies[4].query.value)["amount"] == "0"
    writer.close()


async def test_frames_split_across_writes_are_reassembled(served: tuple[str, Chain]) -> None:
    path, _ = served
    reader, writer = await asyncio.open_unix_connection(path)
    payload = _request(echo=abci.RequestEcho(message="x" * 300)) + _request(flush={})
    for byte in payload:
        writer.write(bytes([byte]))
        await writer.drain()

    replies = await _read_responses(reader, 2)

    assert replies[0].echo.message == "x" * 300
    assert replies[1].WhichOneof("value") == "flush"
    writer.close()


async def test_four_connections_are_served_independently(served: tuple[str, Chain]) -> None:
    path, _ = served
    connections = [await asyncio.open_unix_connection(path) for _ in range(4)]
    for index, (_, writer) in enumerate(connections):
        writer.write(_request(echo={"message": f"conn-{index}"}) + _request(flush={}))
    for index, (reader, writer) in enumerate(connections):
        replies = await _read_responses(reader, 2)
        assert replies[0].echo.message == f"conn-{index}"
        writer.close()


async def test_oversized_message_closes_the_connection(served: tuple[str, Chain]) -> None:
    path, _ = served
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(encode_varint((1 << 20) + 1) + b"\x00" * 16)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""


async def test_consensus_flow_over_the_socket(served: tuple[str, Chain], outsider: str) -> None:
    path, chain = served
    reader, writer = await asyncio.open_unix_connection(path)
    tx = chain.send_tx(0, outsider, 11)
    writer.write(
        _request(prepare_proposal=abci.RequestPrepareProposal(max_tx_bytes=10_000, txs=[tx],
                                                              height=2))
        + _request(process_proposal=abci.RequestProcessProposal(txs=[tx], height=2))
        + _request(finalize_block=abci.RequestFinalizeBlock(txs=[tx], height=2))
        + _request(commit={})
        + _request(flush={})
    )
    replies = await _read_responses(reader, 5)

    assert list(replies[0].prepare_proposal.txs) == [tx]
    assert replies[1].process_proposal.status == abci.ResponseProcessProposal.ACCEPT
    assert replies[2].finalize_block.tx_results[0].code == 0
    assert chain.app.committed.height == 2
    assert chain.balance(outsider) == 11
    writer.close()


async def test_tcp_transport() -> None:
    import socket

    chain = start_chain(None)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve(chain.app, f"tcp://127.0.0.1:{port}", stop=stop, ready=ready.set)
    )
    await asyncio.wait_for(ready.wait(), 10)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request(info={}) + _request(flush={}))

    replies = await _read_responses(reader, 2)

    assert replies[0].info.data == "race-network"
    writer.close()
    stop.set()
    await task
    chain.app.close()


def test_entry_point_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    socket_path = tmp_path / "app.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "abci_app.abci", "--home", str(tmp_path),
         "--address", f"unix://{socket_path}"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the app never opened its socket"
            time.sleep(0.05)
        import socket

        client = socket.socket(socket.AF_UNIX)
        client.settimeout(30)
        client.connect(str(socket_path))
        client.sendall(_request(info={}) + _request(flush={}))
        data = b""
        while (header := decode_varint(data, 0)) is None or sum(header) > len(data):
            chunk = client.recv(65536)
            assert chunk, "the app closed the connection"
            data += chunk
        length, start = header
        assert abci.Response.FromString(data[start : start + length]).info.data == "race-network"
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not socket_path.exists()
        assert (tmp_path / "app" / "app.db").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class _RecordingTransport:
    """Stands in for asyncio's transport: records what the server writes or whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


class _BlankApp:
    """Answers every ABCI method with an empty response of the right type.

    Random frames can decode as InitChain or Commit, which a real app rightly treats as
    fatal; the framing under test must not depend on what the app does.
    """

    def __getattr__(self, method: str):  # noqa: ANN204
        response_type = type(getattr(abci.Response(), method))
        return lambda _request: response_type()


@given(st.lists(st.binary(max_size=64), max_size=8))
@settings(max_examples=500, deadline=None, database=None)
def test_arbitrary_bytes_on_the_socket_never_raise(chunks: list[bytes]) -> None:
    from abci_app.abci.server import AbciConnection, Dispatcher

    dispatcher = Dispatcher(_BlankApp(), lambda reason: None)
    connection = AbciConnection(dispatcher, 1 << 16, "fuzz")
    transport = _RecordingTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    for chunk in chunks:
        if transport.closed:
            break
        connection.data_received(chunk)
    position = 0
    while (header := decode_varint(transport.written, position)) is not None:
        length, start = header
        abci.Response.FromString(transport.written[start : start + length])
        position = start + length
    assert position == len(transport.written), "every reply is a whole frame"

