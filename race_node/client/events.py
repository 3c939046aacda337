"""New-block notifications from CometBFT's event websocket, across node restarts.

:class:`BlockSubscription` connects to ``ws://host:port/websocket``, subscribes with
``tm.event='NewBlock'`` and yields block heights. On every (re)connection it first yields
the node's latest height (asked over the same socket, after subscribing, so no block falls
between the two), then each new block's height as it is committed. When the node goes away
it reconnects with exponential backoff, forever, and subscribes again.

Heights may repeat or skip (a reconnect loses the blocks committed meanwhile; the latest
height is yielded again after it). A notification means "the chain reached at least this
height": callers keep their own cursor and catch up every height from it, reading each
height's events with ``block_results``, so catching up and following live are one path.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from race_node.client.backoff import Backoff
from race_node.client.rpc import websocket_url

NEW_BLOCK_QUERY = "tm.event='NewBlock'"
# A block's JSON (txs in base64) can be large; the node is trusted, so allow up to 64 MiB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)


class SubscriptionError(Exception):
    """The node refused or cancelled the subscription (e.g. too many subscribers)."""


def _event_height(message: dict[str, Any]) -> int | None:
    """The height of a NewBlock (or NewBlockHeader) event message; None for anything else."""
    data = (message.get("result") or {}).get("data") or {}
    value = data.get("value") or {}
    header = (value.get("block") or {}).get("header") or value.get("header")
    if not header or "height" not in header:
        return None
    return int(header["height"])


class BlockSubscription:
    """Heights of committed blocks, from one node's websocket, reconnecting forever.

    ``connected`` and ``last_error`` say how the connection stands now (for status
    endpoints); ``connections`` counts successful subscriptions.
    """

    def __init__(self, rpc_url: str, *, query: str = NEW_BLOCK_QUERY,
                 backoff: Backoff | None = None, open_timeout: float = 5.0,
                 ping_interval: float = 10.0) -> None:
        self.url = websocket_url(rpc_url)
        self.query = query
        self.backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.connected = False
        self.last_error: str | None = None
        self.connections = 0
        self._ids = itertools.count(1)

    async def heights(self) -> AsyncIterator[int]:
        """The latest height on each (re)connection, then every new block's height."""
        while True:
            try:
                async with connect(self.url, open_timeout=self.open_timeout,
                                   ping_interval=self.ping_interval,
                                   ping_timeout=self.ping_interval,
                                   max_size=MAX_MESSAGE_BYTES, compression=None,
                                   proxy=None) as socket:
                    early = await self._subscribe(socket)
                    self.connected, self.last_error = True, None
                    self.connections += 1
                    self.backoff.reset()
                    log.info("subscribed to new blocks at %s", self.url)
                    for height in early:
                        yield height
                    async for raw in socket:
                        announced = self._height_or_raise(json.loads(raw))
                        if announced is not None:
                            yield announced
                raise ConnectionError("the node closed the websocket")
            except (OSError, WebSocketException, TimeoutError, SubscriptionError,
                    ValueError, KeyError) as exc:
                if self.connected or self.last_error is None:
                    log.warning("lost the node's websocket at %s: %s; reconnecting",
                                self.url, exc or type(exc).__name__)
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(self.backoff.next_delay())

    async def _subscribe(self, socket: ClientConnection) -> list[int]:
        """Subscribe, then ask for the latest height; returns the heights to yield first."""
        heights: list[int] = []
        await self._request(socket, "subscribe", {"query": self.query}, heights)
        status = await self._request(socket, "status", {}, heights)
        heights.insert(0, int(status["sync_info"]["latest_block_height"]))
        return heights

    async def _request(self, socket: ClientConnection, method: str, params: dict[str, Any],
                       events: list[int]) -> dict[str, Any]:
        """One JSON-RPC call over the socket; events arriving meanwhile go to ``events``."""
        request_id = next(self._ids)
        await socket.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                                      "params": params}))
        async with asyncio.timeout(self.open_timeout):
            while True:
                message = json.loads(await socket.recv())
                if message.get("id") == request_id and "data" not in (message.get("result")
                                                                      or {}):
                    if message.get("error"):
                        raise SubscriptionError(f"{method}: {_error_text(message['error'])}")
                    return message.get("result") or {}
                height = self._height_or_raise(message)
                if height is not None:
                    events.append(height)

    @staticmethod
    def _height_or_raise(message: dict[str, Any]) -> int | None:
        if message.get("error"):
            raise SubscriptionError(_error_text(message["error"]))
        return _event_height(message)


def _error_text(error: dict[str, Any]) -> str:
    return str(error.get("data") or error.get("message") or error)
