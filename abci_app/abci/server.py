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

from race_protocol.gen.tendermint.abci import types_pb2 as abci

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


# The key (field number, wire type 2) of each Response oneof field, and Flush's answer.
_RESPONSE_TAGS: dict[str, bytes] = {
    field.name: encode_varint(field.number << 3 | 2)
    for field in abci.Response.DESCRIPTOR.oneofs_by_name["value"].fields
}
_FLUSH_RESPONSE = abci.Response(flush=abci.ResponseFlush()).SerializeToString()


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
        return abci.Response.FromString(self.handle_encoded(request))

    def handle_encoded(self, request: abci.Request) -> bytes:
        """The encoded Response to one Request.

        A Response is a oneof, so its encoding is the answer's tag, length and bytes: the
        app's answer is serialized once, never copied into a Response first (a block's
        FinalizeBlock answer holds every tx result).
        """
        kind = request.WhichOneof("value")
        if kind == "echo":
            return abci.Response(
                echo=abci.ResponseEcho(message=request.echo.message)
            ).SerializeToString()
        if kind == "flush":
            return _FLUSH_RESPONSE
        entry = self._handlers.get(kind or "")
        if entry is None:
            # Unknown request type: answer with an exception rather than guess.
            return abci.Response(
                exception=abci.ResponseException(error=f"unknown request {kind}")
            ).SerializeToString()
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
        body = result.SerializeToString()
        return _RESPONSE_TAGS[response_field] + encode_varint(len(body)) + body


# Requests handled per turn of the event loop. Between turns the loop reads the sockets
# again, so CometBFT's writers never stall on a full socket while the app works through
# a backlog (a stalled writer in CometBFT's socket client spins its flush timer, taking
# CPU from the app on a small host).
FRAMES_PER_TURN = 64
# Past this many unprocessed bytes the connection stops reading until it catches up.
PAUSE_READING_BYTES = 64 * 1024 * 1024
# Processed bytes are cut from the buffer's front once this many have gathered.
COMPACT_BYTES = 1024 * 1024


class AbciConnection(asyncio.Protocol):
    """One CometBFT connection: decode frames, dispatch in order, reply in order."""

    def __init__(self, dispatcher: Dispatcher, max_message_bytes: int, name: str) -> None:
        self.dispatcher = dispatcher
        self.max_message_bytes = max_message_bytes
        self.name = name
        self.buffer = bytearray()
        self.position = 0  # start of the first unprocessed byte in ``buffer``
        self.transport: asyncio.Transport | None = None
        self.scheduled = False
        self.paused = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        log.info("connection %s opened", self.name)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        log.info("connection %s closed%s", self.name, f": {exc}" if exc else "")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.scheduled:
            # A turn is already queued; it will see these bytes.
            if (not self.paused and self.transport is not None
                    and len(self.buffer) - self.position > PAUSE_READING_BYTES):
                self.paused = True
                self.transport.pause_reading()
            return
        self.process()

    def process(self) -> None:
        """Handle up to FRAMES_PER_TURN whole frames; queue another turn if more wait."""
        self.scheduled = False
        while self._turn():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # driven directly, without an event loop (tests)
                continue
            self.scheduled = True
            loop.call_soon(self.process)
            return
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def _turn(self) -> bool:
        """One turn: handle and answer up to FRAMES_PER_TURN frames; True if more wait."""
        if self.closed:
            return False
        buffer = self.buffer
        position = self.position
        replies: list[bytes] = []
        more = False
        try:
            for _ in range(FRAMES_PER_TURN):
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
                replies.append(frame(self.dispatcher.handle_encoded(request)))
            else:
                more = True
        except Exception as bad:
            log.error("connection %s: dropping after bad input: %s", self.name, bad)
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.buffer = bytearray()
            self.position = 0
            return False
        if position >= len(buffer):
            buffer.clear()
            position = 0
        elif position >= COMPACT_BYTES:
            del buffer[:position]
            position = 0
        self.position = position
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        return more


def parse_address(address: str) -> tuple[str, str | tuple[str, int]]:
    """``unix:///path`` or ``tcp://host:port`` -> ("unix", path) | ("tcp", (host, port))."""
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        if not path:
            raise ValueError("unix:// address needs a path, e.g. unix:///tmp/app.sock")
        return "unix", path
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://") :].rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
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
