"""The ABCI 2.0 socket server: CometBFT's socket protocol over a unix socket or TCP.

Wire format (CometBFT ``abci/types/messages.go``): each message is an unsigned-varint
length followed by a protobuf ``Request``/``Response``. CometBFT opens four connections
(consensus, mempool, query, snapshot); on each, responses go back in request order, and
a ``Flush`` request asks for everything buffered so far. Handlers are synchronous and
run on one event loop, so requests from different connections never interleave inside
the state machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abci_app.gen.tendermint.abci import types_pb2 as abci

log = logging.getLogger("race.abci")

# The same cap CometBFT's own socket server applies to one message.
DEFAULT_MAX_MESSAGE_BYTES = 104_857_600

# Request oneof field -> (app method name, Response oneof field).
_METHODS: dict[str, tuple[str, str]] = {
    "info": ("info", "info"),
    "init_chain": ("init_chain", "init_chain"),
    "query": ("query", "query"),
    "check_tx": ("check_tx", "check_tx"),
    "commit": ("commit", "commit"),
    "list_snapshots": ("list_snapshots", "list_snapshots"),
    "offer_snapshot": ("offer_snapshot", "offer_snapshot"),
    "load_snapshot_chunk": ("load_snapshot_chunk", "load_snapshot_chunk"),
    "apply_snapshot_chunk": ("apply_snapshot_chunk", "apply_snapshot_chunk"),
    "prepare_proposal": ("prepare_proposal", "prepare_proposal"),
    "process_proposal": ("process_proposal", "process_proposal"),
    "extend_vote": ("extend_vote", "extend_vote"),
    "verify_vote_extension": ("verify_vote_extension", "verify_vote_extension"),
    "finalize_block": ("finalize_block", "finalize_block"),
}


class FramingError(ValueError):
    """The peer sent bytes that are not a valid length-prefixed message."""


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as Go's ``binary.PutUvarint``."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buffer: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """(value, index after it), or None when the buffer ends inside the varint."""
    value = 0
    shift = 0
    index = start
    while index < len(buffer):
        byte = buffer[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index
        shift += 7
        if shift > 63:
            raise FramingError("length varint longer than 10 bytes")
    return None


def frame(message_bytes: bytes) -> bytes:
    """Length-prefix one encoded message."""
    return encode_varint(len(message_bytes)) + message_bytes


class Dispatcher:
    """Turns one decoded Request into one Response by calling the app. Never raises."""

    def __init__(self, app: Any, on_fatal: Callable[[str], None]) -> None:
        self.app = app
        self.on_fatal = on_fatal
        self._handlers = {
            field: (getattr(app, method), response_field)
            for field, (method, response_field) in _METHODS.items()
        }

    def handle(self, request: abci.Request) -> abci.Response:
        kind = request.WhichOneof("value")
        if kind == "echo":
            return abci.Response(echo=abci.ResponseEcho(message=request.echo.message))
        if kind == "flush":
            return abci.Response(flush=abci.ResponseFlush())
        entry = self._handlers.get(kind or "")
        if entry is None:
            # Unknown request type: answer with an exception rather than guess.
            return abci.Response(exception=abci.ResponseException(error=f"unknown request {kind}"))
        method, response_field = entry
        try:
            result = method(getattr(request, kind))
        except Exception as bad:  # the app's methods catch their own; this is a bug
            log.exception("%s failed", kind)
            if kind == "check_tx":
                result = abci.ResponseCheckTx(code=1, codespace="app", log="internal error")
            elif kind == "query":
                result = abci.ResponseQuery(code=1, codespace="app", log="internal error")
            else:
                self.on_fatal(f"{kind} failed: {bad!r}")
                raise
        response = abci.Response()
        getattr(response, response_field).CopyFrom(result)
        return response


class AbciConnection(asyncio.Protocol):
    """One CometBFT connection: decode frames, dispatch in order, reply in order."""

    def __init__(self, dispatcher: Dispatcher, max_message_bytes: int, name: str) -> None:
        self.dispatcher = dispatcher
        self.max_message_bytes = max_message_bytes
        self.name = name
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        log.info("connection %s opened", self.name)

    def connection_lost(self, exc: Exception | None) -> None:
        log.info("connection %s closed%s", self.name, f": {exc}" if exc else "")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        replies: list[bytes] = []
        position = 0
        try:
            while True:
                header = decode_varint(buffer, position)
                if header is None:
                    break
                length, body_start = header
                if length > self.max_message_bytes:
                    raise FramingError(
                        f"message of {length} bytes exceeds the limit {self.max_message_bytes}"
                    )
                body_end = body_start + length
                if body_end > len(buffer):
                    break
                request = abci.Request.FromString(bytes(buffer[body_start:body_end]))
                position = body_end
                response = self.dispatcher.handle(request)
                replies.append(frame(response.SerializeToString()))
        except Exception as bad:
            log.error("connection %s: dropping after bad input: %s", self.name, bad)
            if self.transport is not None:
                self.transport.close()
            self.buffer = bytearray()
            return
        if position:
            del buffer[:position]
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))


def parse_address(address: str) -> tuple[str, str | tuple[str, int]]:
    """``unix:///path`` or ``tcp://host:port`` -> ("unix", path) | ("tcp", (host, port))."""
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        if not path:
            raise ValueError("unix:// address needs a path, e.g. unix:///tmp/app.sock")
        return "unix", path
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://") :].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad tcp address {address!r}; use tcp://127.0.0.1:26658")
        return "tcp", (host.strip("[]"), int(port))
    raise ValueError(f"address {address!r} must start with unix:// or tcp://")


def _unix_socket_in_use(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def serve(
    app: Any,
    address: str,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    stop: asyncio.Event | None = None,
    on_fatal: Callable[[str], None] | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` at ``address`` until ``stop`` is set."""
    kind, where = parse_address(address)
    dispatcher = Dispatcher(app, on_fatal or (lambda reason: None))
    loop = asyncio.get_running_loop()
    counter = iter(range(1, 1 << 30))

    def factory() -> AbciConnection:
        return AbciConnection(dispatcher, max_message_bytes, f"#{next(counter)}")

    if kind == "unix":
        path = str(where)
        if os.path.exists(path):
            if _unix_socket_in_use(path):
                raise OSError(f"another process already serves {path}")
            os.unlink(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        server = await loop.create_unix_server(factory, path)
    else:
        assert isinstance(where, tuple)
        host, port = where
        server = await loop.create_server(factory, host, port, reuse_address=True)
    log.info("serving ABCI at %s", address)
    if ready is not None:
        ready()
    try:
        if stop is None:
            await asyncio.Future()
        else:
            await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        if kind == "unix" and os.path.exists(str(where)):
            os.unlink(str(where))
        log.info("stopped serving %s", address)
