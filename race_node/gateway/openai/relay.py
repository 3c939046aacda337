"""The relay: from an API key and a request to a stream of tokens from a drawn executor
(DESIGN.md 7.2; whitepaper section 7; docs/inference.md, "The relay").

For each request the relay

1. limits the key's request rate (429 with ``Retry-After``);
2. reads the model's route (its price, its weighted providers and the beacon output) and
   the key's record from the chain view, cached per block: no query, and never a tx, in the
   request path (404 for a model that is not active, 401 for an unknown, revoked or expired
   key, 404 for a model the key does not allow);
3. checks the key's budget against the request's worst-case cost, ``(prompt + max_tokens)
   x units x price``, less what its requests in flight and its tickets not yet settled
   may still cost (429 ``insufficient_quota``);
4. draws the executor by weight from the beacon output and a fresh request id
   (:mod:`race_protocol.inference.draw`), signs a ticket with the relay key, and calls the
   executor's endpoint;
5. waits for the first chunk. Before it, a failed executor (down, busy, refusing the
   ticket) is replaced by the next draw (attempt 1, 2, ...; an executor that failed is
   skipped), so the developer sees a retried answer, never a charge for nothing; a request
   the engine finds invalid (a prompt over the context, ...) is a 400 at once. After the
   first chunk, a failure ends the stream with an error event.

The prompt's token count is not known before the executor's engine renders it, so the
worst case counts every UTF-8 byte of the input as a token (a byte-level tokenizer never
makes more tokens than bytes) plus the chat template's overhead, capped at the model's
context.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from race_node.gateway.openai.serving_base import SERVER_ERROR, OpenAIError, bad_request
from race_node.inference.executors import ExecutorChannels
from race_node.inference.tickets import drawn, sign_ticket
from race_node.inference.view import ChainUnavailable, ChainView, ModelRoute
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.inference.fees import worst_case_cost
from race_protocol.inference.ticket import api_key_hash, new_request_id, prompt_hash

log = logging.getLogger("race.gateway.relay")

# Draws looked at for one request (an executor that already failed is skipped).
MAX_DRAWS = 32
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS = 64
# Executor refusals after which the next draw is tried: the executor is away, busy, or
# disagrees about the ticket (a view one block apart); anything else is the request's fault.
_RETRY_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.ABORTED,
})


@dataclass(frozen=True)
class RelaySettings:
    """``max_attempts``: executors tried before the first token. ``rate_per_second`` and
    ``rate_burst``: each key's request rate. ``first_token_timeout_s``: how long an
    executor may take to its first token before the next draw is tried;
    ``connect_timeout_s``: how long a connection to it may take to come up."""

    max_attempts: int = 4
    rate_per_second: float = 50.0
    rate_burst: int = 100
    first_token_timeout_s: float = 120.0
    connect_timeout_s: float = 2.0


class MidStreamError(Exception):
    """The executor failed after its first chunk."""


def prompt_token_bound(request: sidecar_pb2.GenerateRequest) -> int:
    """At least the prompt's token count: its UTF-8 bytes plus the template's overhead."""
    if request.WhichOneof("input") == "chat":
        messages = request.chat.messages
        return (sum(len(m.content.encode("utf-8")) + len(m.role) for m in messages)
                + TEMPLATE_TOKENS_PER_MESSAGE * len(messages) + TEMPLATE_TOKENS)
    return len(request.prompt.encode("utf-8")) + TEMPLATE_TOKENS


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def take(self, key: bytes) -> float:
        """0 when the request may go, else the seconds until it may."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0


@dataclass
class BudgetLedger:
    """What a key's requests may still cost beyond what the chain has charged: requests in
    flight at their worst case, finished ones at their cost until the chain shows them
    settled (or their validity window has passed)."""

    in_flight: dict[bytes, dict[bytes, int]] = field(default_factory=dict)
    unsettled: dict[bytes, dict[tuple[int, bytes], int]] = field(default_factory=dict)

    def committed(self, key_hash: bytes) -> int:
        return (sum(self.in_flight.get(key_hash, {}).values())
                + sum(self.unsettled.get(key_hash, {}).values()))

    def in_flight_total(self, key_hash: bytes) -> int:
        return sum(self.in_flight.get(key_hash, {}).values())

    def reserve(self, key_hash: bytes, request_id: bytes, amount: int) -> None:
        self.in_flight.setdefault(key_hash, {})[request_id] = amount

    def release(self, key_hash: bytes, request_id: bytes) -> None:
        flights = self.in_flight.get(key_hash, {})
        flights.pop(request_id, None)
        if not flights:
            self.in_flight.pop(key_hash, None)

    def complete(self, key_hash: bytes, request_id: bytes, height: int, cost: int) -> None:
        self.release(key_hash, request_id)
        if cost > 0:
            self.unsettled.setdefault(key_hash, {})[(height, request_id)] = cost

    async def reconcile(self, view: ChainView) -> None:
        """Forget finished requests the chain has settled, or can no longer settle."""
        by_height: dict[int, list[tuple[bytes, bytes]]] = {}
        for key_hash, tickets in self.unsettled.items():
            for height, request_id in tickets:
                by_height.setdefault(height, []).append((key_hash, request_id))
        for height, entries in sorted(by_height.items()):
            for start in range(0, len(entries), 256):
                chunk = entries[start:start + 256]
                answer = await view.settled(height, [rid for _, rid in chunk])
                done = {bytes.fromhex(s.request_id) for s in answer.settled}
                expired = height <= int(answer.expired_through)
                for key_hash, request_id in chunk:
                    if expired or request_id in done:
                        tickets = self.unsettled.get(key_hash, {})
                        tickets.pop((height, request_id), None)
                        if not tickets:
                            self.unsettled.pop(key_hash, None)


@dataclass
class Relayed:
    """An answer under way: the executor's first chunk has arrived."""

    call: grpc.aio.UnaryStreamCall
    first: sidecar_pb2.GenerateChunk
    ticket: pb.Ticket
    route: ModelRoute
    key_hash: bytes
    executor: str
    ledger: BudgetLedger
    worst_cost: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _closed: bool = False

    @property
    def request_id(self) -> str:
        return bytes(self.ticket.request_id).hex()

    def headers(self) -> dict[str, str]:
        """What lets anyone audit this answer: its request id, ticket height, draw attempt
        and executor (``GET /v1/race/draw`` recomputes the draw)."""
        return {"x-race-request-id": self.request_id, "x-race-executor": self.executor,
                "x-race-ticket-height": str(self.ticket.height),
                "x-race-attempt": str(self.ticket.attempt)}

    async def chunks(self) -> AsyncIterator[sidecar_pb2.GenerateChunk]:
        """Every chunk, the first included; MidStreamError if the executor fails."""
        try:
            chunk: object = self.first
            while chunk is not grpc.aio.EOF:
                assert isinstance(chunk, sidecar_pb2.GenerateChunk)
                self.completion_tokens += len(chunk.token_ids)
                if chunk.HasField("usage"):
                    self.prompt_tokens = chunk.usage.prompt_tokens
                yield chunk
                try:
                    chunk = await self.call.read()
                except grpc.aio.AioRpcError as error:
                    raise MidStreamError(
                        f"the executor failed mid-answer ({error.code().name}: "
                        f"{error.details()}); you are charged only for the tokens "
                        "produced") from error
        finally:
            self.close()

    def close(self) -> None:
        """Stop the executor (if still running) and account for what was produced."""
        if self._closed:
            return
        self._closed = True
        if not self.call.done():
            self.call.cancel()
        cost = min(self.worst_cost, (self.prompt_tokens + self.completion_tokens)
                   * self.route.units_per_token * self.route.price_per_unit)
        self.ledger.complete(self.key_hash, bytes(self.ticket.request_id), self.ticket.height,
                             cost if self.completion_tokens else 0)


class Relay:
    """Relays requests to drawn executors under one relay key."""

    def __init__(self, view: ChainView, relay_key: Ed25519PrivateKey | None,
                 settings: RelaySettings | None = None) -> None:
        self.view = view
        self.relay_key = relay_key
        self.settings = settings or RelaySettings()
        self.channels = ExecutorChannels()
        self.ledger = BudgetLedger()
        self.limiter = RateLimiter(self.settings.rate_per_second, self.settings.rate_burst)
        self.public_key = (b"" if relay_key is None else relay_key.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw))

    async def start(self) -> None:
        await self.view.start()
        self.view.on_new_height(self._on_height)

    async def close(self) -> None:
        await self.channels.close()
        await self.view.close()

    async def _on_height(self, height: int) -> None:
        await self.ledger.reconcile(self.view)

    # --- checks before anything is forwarded ------------------------------------------

    async def route_for(self, model: str) -> ModelRoute:
        try:
            route = await self.view.route(model)
        except ChainUnavailable as away:
            raise OpenAIError(503, f"the gateway cannot reach its node: {away}",
                              type=SERVER_ERROR, headers={"Retry-After": "1"}) from away
        if route is None:
            raise OpenAIError(404, f"The model `{model}` does not exist; GET /v1/models "
                              "lists the models the network serves", code="model_not_found",
                              param="model")
        return route

    async def key_for(self, secret: str, model: str) -> tuple[bytes, pb.ApiKey, int]:
        """The key's hash, record and the height it was read at; 401 or 404 if unusable."""
        key_hash = api_key_hash(secret)
        wait = self.limiter.take(key_hash)
        if wait > 0:
            raise OpenAIError(429, "Rate limit reached for this API key; retry shortly",
                              type="requests", code="rate_limit_exceeded",
                              headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        try:
            state = await self.view.key(key_hash)
        except ChainUnavailable as away:
            raise OpenAIError(503, f"the gateway cannot reach its node: {away}",
                              type=SERVER_ERROR, headers={"Retry-After": "1"}) from away
        key = state.key
        if key is None:
            raise OpenAIError(401, "Incorrect API key provided; create one with "
                              "`race apikey create`", code="invalid_api_key")
        if key.status != pb.API_KEY_STATUS_ACTIVE:
            status = "revoked" if key.status == pb.API_KEY_STATUS_REVOKED else "expired"
            raise OpenAIError(401, f"This API key is {status}", code="invalid_api_key")
        if key.models and model not in key.models:
            raise OpenAIError(404, f"The model `{model}` does not exist or this API key may "
                              "not use it", code="model_not_found", param="model")
        return key_hash, key, state.height

    def check_budget(self, key_hash: bytes, key: pb.ApiKey, worst: int) -> None:
        available = int(key.remaining_nicoin) - self.ledger.committed(key_hash)
        if worst <= available:
            return
        waiting = self.ledger.in_flight_total(key_hash)
        retry = worst <= available + waiting
        raise OpenAIError(
            429, f"This request may cost up to {worst} nicoin and the API key has "
            f"{max(available, 0)} nicoin available ({key.remaining_nicoin} left on chain); "
            "top it up with `race apikey top-up`, or lower max_tokens",
            type="insufficient_quota", code="insufficient_quota",
            headers={"Retry-After": "1" if retry else "60",
                     "x-should-retry": "true" if retry else "false"})

    # --- relaying -----------------------------------------------------------------------

    async def open(self, secret: str, request: sidecar_pb2.GenerateRequest,
                   max_tokens: int | None, choices: int = 1) -> Relayed:
        """Forward ``request`` (its ``model`` a registry id) and return once the first chunk
        arrived; OpenAIError for every refusal, all decided before anything is sent."""
        if self.relay_key is None:
            raise OpenAIError(503, "this gateway has no relay key; start it with "
                              "`race gateway serve --relay-key NAME`", type=SERVER_ERROR)
        key_hash, key, key_height = await self.key_for(secret, request.model)
        route = await self.route_for(request.model)
        prompt_bound = min(prompt_token_bound(request), route.max_context)
        output_bound = max(1, route.max_context - min(prompt_bound, route.max_context - 1))
        if max_tokens is not None:
            if max_tokens > route.max_context:
                raise bad_request(f"max_tokens {max_tokens} is over the model's context of "
                                  f"{route.max_context} tokens", "max_tokens")
            output_bound = max_tokens
        worst = max(1, worst_case_cost(prompt_bound + output_bound * choices,
                                       route.units_per_token, route.price_per_unit))
        self.check_budget(key_hash, key, worst)
        if not route.candidates:
            raise OpenAIError(503, f"No provider serves `{request.model}` right now",
                              type=SERVER_ERROR, code="no_provider",
                              headers={"Retry-After": "5", "x-should-retry": "false"})
        request_id = new_request_id()
        self.ledger.reserve(key_hash, request_id, worst)
        try:
            return await self._first_chunk(route, key_hash, key_height, request, request_id,
                                            worst)
        except BaseException:
            self.ledger.release(key_hash, request_id)
            raise

    async def _first_chunk(self, route: ModelRoute, key_hash: bytes, height: int,
                           request: sidecar_pb2.GenerateRequest, request_id: bytes,
                           worst: int) -> Relayed:
        chain_id = await self.view.chain_id_of_node()
        hashed = prompt_hash(request)
        failed: set[str] = set()
        busy = 0
        last_error = "no executor answered"
        tried = 0
        assert self.relay_key is not None
        for attempt in range(MAX_DRAWS):
            if tried >= self.settings.max_attempts:
                break
            ticket = pb.Ticket(request_id=request_id, key_hash=key_hash, model=request.model,
                               max_cost_nicoin=worst, relay=self.public_key, height=height,
                               prompt_hash=hashed, beacon_round=route.beacon_round,
                               attempt=attempt)
            executor = drawn(route.beacon_output, ticket, route.candidates)
            if executor is None or executor in failed:
                continue
            tried += 1
            endpoint = route.endpoints[executor]
            if not await self.channels.connected(endpoint, self.settings.connect_timeout_s):
                failed.add(executor)
                last_error = f"{executor} at {endpoint} does not accept connections"
                continue
            ticket.executor = executor
            ticket_bytes, signature = sign_ticket(self.relay_key, chain_id, ticket)
            call = self.channels.execute(endpoint, pb.ExecuteRequest(
                ticket=ticket_bytes, signature=signature, request=request))
            try:
                first = await asyncio.wait_for(call.read(),
                                               self.settings.first_token_timeout_s)
            except TimeoutError:
                call.cancel()
                failed.add(executor)
                last_error = f"{executor} gave no first token in time"
                continue
            except grpc.aio.AioRpcError as error:
                if error.code() not in _RETRY_CODES:
                    raise bad_request(error.details() or error.code().name) from None
                failed.add(executor)
                busy += error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                last_error = f"{executor}: {error.code().name}: {error.details()}"
                log.info("request %s: executor %s failed before its first token (%s); "
                         "drawing again", request_id.hex(), executor, last_error)
                continue
            if first is grpc.aio.EOF:
                failed.add(executor)
                last_error = f"{executor} ended the answer before its first token"
                continue
            return Relayed(call=call, first=first, ticket=ticket, route=route,
                           key_hash=key_hash, executor=executor, ledger=self.ledger,
                           worst_cost=worst)
        if busy and busy == len(failed):
            raise OpenAIError(503, "Every provider of this model is busy; retry shortly",
                              type=SERVER_ERROR, code="overloaded", headers={"Retry-After": "1"})
        raise OpenAIError(503, f"No provider could serve this request ({last_error})",
                          type=SERVER_ERROR, code="no_provider", headers={"Retry-After": "2"})

    async def draw(self, model: str, request_id: bytes, attempt: int) -> dict[str, object]:
        """The draw for ``(request id, attempt)`` on the current view, and its inputs."""
        route = await self.route_for(model)
        ticket = pb.Ticket(request_id=request_id, attempt=attempt)
        return {"model": model, "height": route.height, "beacon_round": route.beacon_round,
                "beacon_output": route.beacon_output.hex(), "request_id": request_id.hex(),
                "attempt": attempt, "executor": drawn(route.beacon_output, ticket,
                                                      route.candidates),
                "candidates": [{"address": a, "weight": w} for a, w in route.candidates]}
