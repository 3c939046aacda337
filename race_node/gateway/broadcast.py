"""Tx broadcast for both gateways: CheckTx's verdict, and optionally the committed result.

Signed bytes go through the client library's one broadcast path
(:func:`race_node.client.broadcast.broadcast_signed` and :func:`wait_for_commit`), so a
re-broadcast of bytes the node already holds is an accepted tx here too.

A broadcast is bounded twice (docs/gateway.md, "Bounds"):

- its size: :data:`MAX_TX_BYTES`, CometBFT's own mempool ceiling, so no tx the chain
  could ever accept is refused and nothing larger is read into memory;
- its commit wait: a gateway lets at most a few requests wait for their block at once
  (:class:`CommitWaiters`), so a handful of clients cannot hold every worker for up to
  :data:`COMMIT_TIMEOUT_S` each and starve everyone's queries. A request over the limit
  is refused before its tx is broadcast, so a retry can never send it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from race_node.client.broadcast import broadcast_signed, wait_for_commit
from race_node.client.rpc import CometRPC, NodeUnreachable, RPCError, TxNotCommitted
from race_protocol.gen.race.v1 import query_pb2

COMMIT_TIMEOUT_S = 30.0
# CometBFT's default mempool.max_tx_bytes: no larger tx can enter any node's mempool.
MAX_TX_BYTES = 1024 * 1024
# What the gateways add around a tx's bytes: the JSON of a REST body, a gRPC message's
# other fields.
ENVELOPE_BYTES = 1024


class BroadcastFailed(Exception):
    """The node could not be reached, or the tx was not committed in time."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class TxTooLarge(Exception):
    """The tx is larger than any mempool accepts; it was not broadcast."""


class CommitWaitersBusy(Exception):
    """Every commit-wait slot is taken; the tx was not broadcast."""


class CommitWaiters:
    """At most ``limit`` broadcasts of one gateway wait for their commit at the same time.

    Thread-safe; a slot is taken without blocking, or refused at once.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gateway needs at least one commit-wait slot, got {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block; CommitWaitersBusy when none is free."""
        if not self._slots.acquire(blocking=False):
            raise CommitWaitersBusy(
                f"{self.limit} broadcasts already wait for their commit on this gateway; the "
                "tx was not broadcast: retry in a moment, or broadcast it without "
                "wait_for_commit and look it up by its hash")
        try:
            yield
        finally:
            self._slots.release()


def check_tx_size(tx_bytes: bytes) -> None:
    """TxTooLarge when no mempool would take ``tx_bytes``."""
    if len(tx_bytes) > MAX_TX_BYTES:
        raise TxTooLarge(f"the tx is {len(tx_bytes)} bytes; the gateway accepts at most "
                         f"{MAX_TX_BYTES} (CometBFT's mempool limit)")


def broadcast_tx(rpc: CometRPC, tx_bytes: bytes, wait: bool, *,
                 waiters: CommitWaiters | None = None, timeout: float = COMMIT_TIMEOUT_S,
                 still_wanted: Callable[[], bool] | None = None
                 ) -> query_pb2.BroadcastTxResponse:
    """Submit a signed tx. A rejected tx is an answer (its code and log), not an error.

    With ``wait``, a slot of ``waiters`` is taken before anything is sent (raising
    CommitWaitersBusy when none is free), and the wait ends after ``timeout`` seconds or
    as soon as ``still_wanted`` says the caller has gone.
    """
    check_tx_size(tx_bytes)
    if wait and waiters is not None:
        with waiters.slot():
            return _broadcast(rpc, tx_bytes, wait, timeout, still_wanted)
    return _broadcast(rpc, tx_bytes, wait, timeout, still_wanted)


def _broadcast(rpc: CometRPC, tx_bytes: bytes, wait: bool, timeout: float,
               still_wanted: Callable[[], bool] | None) -> query_pb2.BroadcastTxResponse:
    try:
        checked = broadcast_signed(rpc, tx_bytes)
        response = query_pb2.BroadcastTxResponse(
            txhash=checked.hash, code=checked.code, log=checked.log,
            codespace=checked.codespace)
        if checked.ok and wait:
            committed = wait_for_commit(rpc, checked.hash, timeout=timeout,
                                        still_wanted=still_wanted)
            response.code = committed.code
            response.log = committed.log
            response.codespace = committed.codespace
            response.height = committed.height
    except NodeUnreachable as exc:
        raise BroadcastFailed(str(exc), unreachable=True) from exc
    except (TxNotCommitted, RPCError) as exc:
        raise BroadcastFailed(str(exc), unreachable=False) from exc
    return response
