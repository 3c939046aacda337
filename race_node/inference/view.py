"""What a relay or an executor needs from the chain, cached per block and refreshed ahead of
use, so a request never waits for a query it made one block ago (no tx, and normally no
query, in the request path: DESIGN.md 7.2).

Each answer remembers the committed height it reflects. An answer at most
``max_staleness`` blocks older than the latest height the node announced is served at once
(its refresh goes on in the background); an older one, or none, is fetched. A new block
makes the view refresh every model and key used recently, so the next request finds them
fresh. Queries run in worker threads (the RPC client is synchronous).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from abci_app.modules.inference.errors import KEY_NOT_FOUND, MODEL_NOT_SERVABLE
from race_node.client.events import BlockSubscription
from race_node.client.queries import ChainQueries, QueryFailed
from race_node.client.rpc import CometRPC, RPCError
from race_protocol.gen.race.v1 import inference_pb2 as pb

log = logging.getLogger("race.inference.view")

DEFAULT_MAX_STALENESS = 2
# Distinct routes kept per model (see ChainView.recent_routes).
ROUTE_HISTORY = 8
# Keys and models used within this many seconds are refreshed at every new block.
HOT_SECONDS = 60.0
# Keys remembered at most (unknown ones included); past it the least recently used half
# is forgotten, so a flood of made-up keys cannot grow the view without bound.
MAX_KEYS = 100_000
T = TypeVar("T")


class ChainUnavailable(Exception):
    """The node did not answer a query the request needs."""


@dataclass(frozen=True)
class ModelRoute:
    """A model's draw inputs and price at one committed height."""

    height: int
    model: pb.InferenceModel
    candidates: tuple[tuple[str, int], ...]
    endpoints: dict[str, str]
    beacon_round: int
    beacon_output: bytes

    @property
    def units_per_token(self) -> int:
        return int(self.model.units_of_compute_per_token)

    @property
    def price_per_unit(self) -> int:
        return int(self.model.price_per_unit_nicoin)

    @property
    def max_context(self) -> int:
        return int(self.model.max_context)

    @classmethod
    def of(cls, answer: pb.QueryInferenceProvidersResponse, height: int) -> ModelRoute:
        return cls(height=height, model=answer.model,
                   candidates=tuple((p.address, int(p.weight)) for p in answer.providers),
                   endpoints={p.address: p.endpoint for p in answer.providers},
                   beacon_round=int(answer.beacon_round),
                   beacon_output=bytes.fromhex(answer.beacon_output))


def _draw_inputs(route: ModelRoute) -> tuple[object, ...]:
    return (route.candidates, route.beacon_round, route.beacon_output)


@dataclass(frozen=True)
class KeyState:
    """An API key's record at one height (``key`` None: no such key)."""

    height: int
    key: pb.ApiKey | None


@dataclass
class _Entry(Generic[T]):
    value: T
    height: int
    used: float = field(default_factory=time.monotonic)


class ChainView:
    """Cached answers from one node, keyed by what was asked."""

    def __init__(self, rpc_url: str, *, max_staleness: int = DEFAULT_MAX_STALENESS,
                 timeout: float = 5.0) -> None:
        self.rpc = CometRPC(rpc_url, timeout=timeout)
        self.queries = ChainQueries(self.rpc)
        self.subscription = BlockSubscription(rpc_url)
        self.max_staleness = max_staleness
        self.height = 0
        self.chain_id: str | None = None
        self._routes: dict[str, _Entry[ModelRoute | None]] = {}
        # Each model's last few distinct routes (providers, weights or beacon output
        # changed), newest last: an executor accepts a draw made on any of them.
        self._route_history: dict[str, deque[ModelRoute]] = {}
        self._keys: dict[bytes, _Entry[KeyState]] = {}
        self._relays: dict[bytes, _Entry[bool]] = {}
        self._params: _Entry[pb.InferenceParams] | None = None
        self._models: _Entry[list[pb.InferenceModel]] | None = None
        self._inflight: dict[tuple[str, object], asyncio.Future[object]] = {}
        self._listeners: list[Callable[[int], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the chain id and follow new blocks in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="chain-view")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.rpc.close()

    def on_new_height(self, listener: Callable[[int], Awaitable[None]]) -> None:
        """Call ``listener(height)`` after each new block's refresh."""
        self._listeners.append(listener)

    async def _follow(self) -> None:
        async for height in self.subscription.heights():
            if height <= self.height:
                continue
            self.height = height
            try:
                await self._refresh_hot()
                for listener in self._listeners:
                    await listener(height)
            except Exception:  # a refresh failing is retried at the next block
                log.debug("refresh at height %d failed", height, exc_info=True)

    async def _refresh_hot(self) -> None:
        now = time.monotonic()
        jobs = [self._fetch_route(model) for model, entry in self._routes.items()
                if now - entry.used < HOT_SECONDS]
        jobs += [self._fetch_key(key_hash) for key_hash, entry in self._keys.items()
                 if now - entry.used < HOT_SECONDS]
        if self._params is not None:
            jobs.append(self._fetch_params())
        for stale in [h for h, e in self._keys.items() if now - e.used >= HOT_SECONDS]:
            del self._keys[stale]
        await asyncio.gather(*jobs, return_exceptions=True)

    # --- queries ------------------------------------------------------------------------

    async def _query(self, method: str, request: object) -> tuple[object, int]:
        try:
            return await asyncio.to_thread(self.queries.call_at, method, request)
        except QueryFailed as failure:
            if failure.unreachable:
                raise ChainUnavailable(failure.log) from failure
            raise

    async def _once(self, kind: str, key: object,
                    fetch: Callable[[], Awaitable[object]]) -> object:
        """One fetch at a time per (kind, key); concurrent callers share it."""
        slot = (kind, key)
        running = self._inflight.get(slot)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = future
        try:
            value = await fetch()
            future.set_result(value)
            return value
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[slot]

    def _fresh(self, height: int) -> bool:
        return height >= self.height - self.max_staleness

    async def chain_id_of_node(self) -> str:
        if self.chain_id is None:
            try:
                status = await asyncio.to_thread(self.rpc.status)
            except RPCError as exc:
                raise ChainUnavailable(str(exc)) from exc
            self.chain_id = str(status["node_info"]["network"])
            self.height = max(self.height, int(status["sync_info"]["latest_block_height"]))
        return self.chain_id

    # --- models -------------------------------------------------------------------------

    async def _fetch_route(self, model: str) -> ModelRoute | None:
        async def fetch() -> ModelRoute | None:
            try:
                answer, height = await self._query(
                    "InferenceProviders", pb.QueryInferenceProvidersRequest(model=model))
            except QueryFailed as failure:
                if MODEL_NOT_SERVABLE.matches(failure.code):
                    self._store_route(model, None, self.height)
                    return None
                raise
            assert isinstance(answer, pb.QueryInferenceProvidersResponse)
            route = ModelRoute.of(answer, height)
            self._store_route(model, route, height)
            return route

        value = await self._once("route", model, fetch)
        return value if isinstance(value, ModelRoute) else None

    def _store_route(self, model: str, route: ModelRoute | None, height: int) -> None:
        current = self._routes.get(model)
        if route is not None:
            history = self._route_history.setdefault(model, deque(maxlen=ROUTE_HISTORY))
            if not history or _draw_inputs(history[-1]) != _draw_inputs(route):
                history.append(route)
        used = current.used if current is not None else time.monotonic()
        self._routes[model] = _Entry(route, height, used)

    async def route(self, model: str) -> ModelRoute | None:
        """The model's draw inputs; None when it is not an active registry model."""
        entry = self._routes.get(model)
        if entry is not None:
            entry.used = time.monotonic()
            if self._fresh(entry.height):
                return entry.value
        return await self._fetch_route(model)

    def recent_routes(self, model: str) -> list[ModelRoute]:
        """The model's last few distinct routes, newest first (an executor accepts a draw
        made on any of them: the relay's view may be a few blocks behind its own)."""
        return list(reversed(self._route_history.get(model, ())))

    async def refresh_route(self, model: str) -> ModelRoute | None:
        """The model's route fetched now, whatever the cache holds."""
        return await self._fetch_route(model)

    async def models(self) -> list[pb.InferenceModel]:
        """Active models with at least one weighted provider."""
        if self._models is not None and self._fresh(self._models.height):
            return self._models.value
        answer, height = await self._query("InferenceModels", None)
        assert isinstance(answer, pb.QueryInferenceModelsResponse)
        self._models = _Entry(list(answer.models), height)
        return self._models.value

    # --- keys and relays ----------------------------------------------------------------

    async def _fetch_key(self, key_hash: bytes) -> KeyState:
        async def fetch() -> KeyState:
            try:
                answer, height = await self._query(
                    "ApiKey", pb.QueryApiKeyRequest(key_hash=key_hash.hex()))
            except QueryFailed as failure:
                if KEY_NOT_FOUND.matches(failure.code):
                    state = KeyState(self.height, None)
                    self._store_key(key_hash, state)
                    return state
                raise
            assert isinstance(answer, pb.QueryApiKeyResponse)
            state = KeyState(height, answer.key)
            self._store_key(key_hash, state)
            return state

        value = await self._once("key", key_hash, fetch)
        assert isinstance(value, KeyState)
        return value

    def _store_key(self, key_hash: bytes, state: KeyState) -> None:
        if len(self._keys) >= MAX_KEYS:
            by_use = sorted(self._keys.items(), key=lambda item: item[1].used)
            for stale, _ in by_use[:MAX_KEYS // 2]:
                del self._keys[stale]
        current = self._keys.get(key_hash)
        self._keys[key_hash] = _Entry(state, state.height,
                                      current.used if current else time.monotonic())

    async def key(self, key_hash: bytes) -> KeyState:
        """The key's record by the hash of its secret."""
        entry = self._keys.get(key_hash)
        if entry is not None:
            entry.used = time.monotonic()
            if self._fresh(entry.height):
                return entry.value
        return await self._fetch_key(key_hash)

    async def relay_registered(self, public_key: bytes) -> bool:
        entry = self._relays.get(public_key)
        if entry is not None and self._fresh(entry.height):
            return entry.value
        answer, height = await self._query("Relay",
                                           pb.QueryRelayRequest(public_key=public_key.hex()))
        assert isinstance(answer, pb.QueryRelayResponse)
        self._relays[public_key] = _Entry(bool(answer.found), height)
        return bool(answer.found)

    async def _fetch_params(self) -> pb.InferenceParams:
        answer, height = await self._query("InferenceParams", None)
        assert isinstance(answer, pb.QueryInferenceParamsResponse)
        self._params = _Entry(answer.params, height)
        return answer.params

    async def params(self) -> pb.InferenceParams:
        if self._params is not None and self._fresh(self._params.height):
            return self._params.value
        return await self._fetch_params()

    async def settled(self, height: int, request_ids: list[bytes]
                      ) -> pb.QuerySettledTicketsResponse:
        answer, _ = await self._query("SettledTickets", pb.QuerySettledTicketsRequest(
            height=height, request_ids=[r.hex() for r in request_ids]))
        assert isinstance(answer, pb.QuerySettledTicketsResponse)
        return answer
