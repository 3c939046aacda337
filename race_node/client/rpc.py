"""A small client for CometBFT's JSON-RPC (v0.38): status, ABCI queries, blocks and their
results, broadcast, tx lookup and search.

Everything goes through JSON-RPC 2.0 POSTs, so byte arguments follow CometBFT's JSON
encoding: transaction bytes and tx hashes as base64, ``abci_query`` data as hex. Results
come back as plain dicts with the node's field names; a few helpers decode the fields the
CLI and tests need (app hash, heights, ABCI query values).

The client never retries a broadcast on its own: a tx sent twice is a different outcome
(the second is rejected by the sequence check), so retrying is the caller's decision; the
one sign-broadcast-wait path is :mod:`race_node.client.broadcast`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_RPC_URL = "http://127.0.0.1:26657"


class RPCError(Exception):
    """The node answered with a JSON-RPC error, or could not be reached."""


class NodeUnreachable(RPCError):
    """No CometBFT RPC server answered at the given address."""


class TxNotCommitted(RPCError):
    """A broadcast tx did not appear in a committed block before the deadline."""


@dataclass(frozen=True)
class QueryResult:
    """The decoded answer to an ABCI ``Query``: code, log, the value bytes and the height."""

    code: int
    log: str
    value: bytes
    height: int
    codespace: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0

    def json(self) -> Any:
        """The value parsed as JSON (our app answers every query path with JSON)."""
        return json.loads(self.value.decode() or "null")


@dataclass(frozen=True)
class BroadcastResult:
    """CheckTx's verdict on a broadcast tx, with the tx hash (upper-case hex, as CometBFT)."""

    code: int
    log: str
    hash: str
    codespace: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class TxResult:
    """A committed tx: its height, FinalizeBlock code, log and events."""

    hash: str
    height: int
    index: int
    code: int
    log: str
    events: list[dict[str, Any]]
    codespace: str = ""
    # The tx's bytes, when the node sent them (tx_search does; tx lookups by hash do too).
    tx: bytes = b""

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class TxOutcome:
    """One tx's FinalizeBlock result inside a block (no hash: block_results has none)."""

    code: int
    log: str
    codespace: str
    events: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class BlockResults:
    """A committed block's results: its txs' outcomes in block order, then its own events."""

    height: int
    txs: list[TxOutcome]
    finalize_block_events: list[dict[str, Any]]


def tx_hash(tx: bytes) -> str:
    """The hash CometBFT indexes a tx under: SHA-256 of its bytes, upper-case hex."""
    return hashlib.sha256(tx).hexdigest().upper()


def _tx_result_from_rpc(result: dict[str, Any]) -> TxResult:
    outcome = result.get("tx_result", {})
    return TxResult(
        hash=result["hash"],
        height=int(result["height"]),
        index=int(result.get("index", 0)),
        code=int(outcome.get("code", 0)),
        log=outcome.get("log", ""),
        events=outcome.get("events") or [],
        codespace=outcome.get("codespace", ""),
        tx=base64.b64decode(result.get("tx") or ""),
    )


class CometRPC:
    """Synchronous CometBFT JSON-RPC client (one HTTP connection pool per instance)."""

    def __init__(self, url: str = DEFAULT_RPC_URL, timeout: float = 10.0) -> None:
        self.url = normalize_rpc_url(url)
        self._client = httpx.Client(base_url=self.url, timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CometRPC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> Any:
        """One JSON-RPC call; returns ``result`` or raises RPCError with the node's message."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = self._client.post("/", json=payload)
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"cannot reach the node's RPC at {self.url} ({exc}); is the node "
                                  "running, and is --node right?") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise RPCError(f"{method}: the node answered HTTP {response.status_code} "
                           f"without JSON") from exc
        if body.get("error"):
            error = body["error"]
            detail = error.get("data") or error.get("message") or str(error)
            raise RPCError(f"{method}: {detail}")
        return body.get("result")

    # --- node state ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def health(self) -> bool:
        """True when the RPC server answers (the node may still be catching up)."""
        try:
            self.call("health")
        except RPCError:
            return False
        return True

    def latest_height(self) -> int:
        return int(self.status()["sync_info"]["latest_block_height"])

    def abci_info(self) -> dict[str, Any]:
        """The app's own view: last committed height and app hash (from ABCI ``Info``)."""
        response = self.call("abci_info")["response"]
        return {
            "data": response.get("data", ""),
            "version": response.get("version", ""),
            "app_version": int(response.get("app_version", 0) or 0),
            "last_block_height": int(response.get("last_block_height", 0) or 0),
            "last_block_app_hash": base64.b64decode(
                response.get("last_block_app_hash") or ""
            ).hex().upper(),
        }

    def block(self, height: int | None = None) -> dict[str, Any]:
        params = {} if height is None else {"height": str(height)}
        return self.call("block", **params)

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        """The validator set at ``height`` (latest when None), every page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": str(page), "per_page": "100"}
            if height is not None:
                params["height"] = str(height)
            result = self.call("validators", **params)
            found.extend(result["validators"])
            if len(found) >= int(result["total"]):
                return found
            page += 1

    def net_info(self) -> dict[str, Any]:
        return self.call("net_info")

    def block_results(self, height: int) -> BlockResults:
        """What FinalizeBlock returned for ``height``: each tx's result and the block's own
        events. The one source of a height's events, for live blocks and catch-up alike."""
        result = self.call("block_results", height=str(height))
        return BlockResults(
            height=int(result["height"]),
            txs=[TxOutcome(code=int(tx.get("code", 0) or 0), log=tx.get("log", ""),
                           codespace=tx.get("codespace", ""), events=tx.get("events") or [])
                 for tx in result.get("txs_results") or []],
            finalize_block_events=result.get("finalize_block_events") or [],
        )

    def block_tx_hashes(self, height: int) -> list[str]:
        """The hashes of the txs in block ``height``, in block order."""
        data = self.block(height)["block"]["data"]
        return [tx_hash(base64.b64decode(tx)) for tx in data.get("txs") or []]

    def tx_search(self, query: str, per_page: int = 100) -> list[TxResult]:
        """Every committed tx matching ``query`` (CometBFT's event query language, e.g.
        ``tx.signer='race1...'``), oldest first, reading all pages."""
        found: list[TxResult] = []
        page = 1
        while True:
            result = self.call("tx_search", query=query, prove=False, page=str(page),
                               per_page=str(per_page), order_by="asc")
            found.extend(_tx_result_from_rpc(tx) for tx in result["txs"])
            if not result["txs"] or len(found) >= int(result["total_count"]):
                return found
            page += 1

    # --- queries and transactions ---------------------------------------------------

    def abci_query(self, path: str, data: bytes = b"", height: int = 0) -> QueryResult:
        """ABCI ``Query`` on ``path``; ``data`` travels hex-encoded, as CometBFT expects."""
        params: dict[str, Any] = {"path": path, "data": data.hex(), "prove": False}
        if height:
            params["height"] = str(height)
        response = self.call("abci_query", **params)["response"]
        return QueryResult(
            code=int(response.get("code", 0)),
            log=response.get("log", ""),
            value=base64.b64decode(response.get("value") or ""),
            height=int(response.get("height", 0) or 0),
            codespace=response.get("codespace", ""),
        )

    def broadcast_tx_sync(self, tx: bytes) -> BroadcastResult:
        """Submit a tx and return CheckTx's verdict (not yet committed)."""
        result = self.call("broadcast_tx_sync", tx=base64.b64encode(tx).decode())
        return BroadcastResult(
            code=int(result.get("code", 0)),
            log=result.get("log", ""),
            hash=result.get("hash", tx_hash(tx)),
            codespace=result.get("codespace", ""),
        )

    def broadcast_tx_async(self, tx: bytes) -> str:
        """Submit a tx without waiting for CheckTx; returns its hash."""
        result = self.call("broadcast_tx_async", tx=base64.b64encode(tx).decode())
        return result.get("hash", tx_hash(tx))

    def tx(self, hash_hex: str) -> TxResult | None:
        """The committed tx with this hash, or None when no block holds it (yet)."""
        try:
            raw = bytes.fromhex(hash_hex.removeprefix("0x"))
        except ValueError as exc:
            raise ValueError(f"{hash_hex!r} is not a hex tx hash") from exc
        if len(raw) != 32:
            raise ValueError(f"a tx hash is 32 bytes (64 hex digits), got {len(raw)} bytes")
        try:
            result = self.call("tx", hash=base64.b64encode(raw).decode(), prove=False)
        except RPCError as exc:
            if "not found" in str(exc):
                return None
            raise
        return _tx_result_from_rpc(result)

    def wait_for_tx(self, hash_hex: str, timeout: float = 30.0,
                    poll_interval: float = 0.1) -> TxResult:
        """Poll the tx index until the tx is in a committed block."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.tx(hash_hex)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TxNotCommitted(
                    f"tx {hash_hex} was accepted into the mempool but not committed "
                    f"within {timeout:.0f}s"
                )
            time.sleep(poll_interval)

    def wait_for_height(self, height: int, timeout: float = 30.0,
                        poll_interval: float = 0.1) -> int:
        """Block until the node's latest committed height reaches ``height``."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                current = self.latest_height()
                if current >= height:
                    return current
            except RPCError as exc:
                last_error = exc
            time.sleep(poll_interval)
        raise TimeoutError(f"{self.url} did not reach height {height} within {timeout:.0f}s"
                           + (f" (last error: {last_error})" if last_error else ""))


def websocket_url(rpc_url: str) -> str:
    """CometBFT's event websocket for an RPC address: ``ws://host:port/websocket``."""
    url = normalize_rpc_url(rpc_url).rstrip("/")
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://") + "/websocket"
    return "ws://" + url.removeprefix("http://") + "/websocket"


def normalize_rpc_url(url: str) -> str:
    """Accept CometBFT's ``tcp://host:port`` form as well as ``http://``."""
    if url.startswith("tcp://"):
        return "http://" + url.removeprefix("tcp://")
    if "://" not in url:
        return "http://" + url
    return url
