"""The gateway's OpenAI API and relay against executors that answer, refuse, fail or die,
through the official `openai` client (only `base_url` and `api_key`): OpenAI's shapes,
the error classes, the next draw before the first token, an error event after it, the
budget and rate checks, and the ticket each executor receives."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import openai
import pytest

from race_node.gateway.openai.relay import RelaySettings
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.inference.draw import draw_executor, draw_seed
from tests.gateway_openai.fakes import (
    MODEL,
    PRICE,
    WORDS,
    ExecutorServers,
    FakeView,
    GatewayServer,
)

SECRET = "race-test-key"


@pytest.fixture
def executors() -> Iterator[ExecutorServers]:
    servers = ExecutorServers()
    yield servers
    servers.stop()


def gateway(executors: ExecutorServers, *, remaining: int = 10**12,
            settings: RelaySettings | None = None, **view_options: object
            ) -> tuple[GatewayServer, FakeView]:
    view = FakeView(executors.endpoints, **view_options)  # type: ignore[arg-type]
    view.add_key(SECRET, remaining)
    return GatewayServer(view, settings), view


def ask(client: openai.OpenAI, **options: object) -> object:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], **options)  # type: ignore


def test_chat_answers_in_openai_shape_with_usage_and_logprobs(executors) -> None:
    executors.add("race1a")
    server, _ = gateway(executors)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        answer = ask(client, logprobs=True, top_logprobs=3, max_tokens=5)
        streamed = list(ask(client, stream=True, stream_options={"include_usage": True}))
        legacy = client.completions.create(model=MODEL, prompt="hi", logprobs=2)
    assert answer.choices[0].message.content == "".join(WORDS)
    assert answer.usage.total_tokens == 12
    assert [len(e.top_logprobs) for e in answer.choices[0].logprobs.content] == [3] * 5
    assert streamed[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == \
        "".join(WORDS)
    assert streamed[-1].choices == [] and streamed[-1].usage.completion_tokens == 5
    assert legacy.choices[0].text == "".join(WORDS)
    assert legacy.choices[0].logprobs.tokens == WORDS
    assert legacy.choices[0].logprobs.text_offset == [0, 5, 11, 12, 19]
    assert all(len(top) == 2 for top in legacy.choices[0].logprobs.top_logprobs)


def test_the_ticket_names_the_drawn_executor_and_binds_the_request(executors) -> None:
    for name in ("race1a", "race1b", "race1c"):
        executors.add(name)
    server, view = gateway(executors, weights={"race1a": 1, "race1b": 5, "race1c": 9})
    with server:
        ask(openai.OpenAI(base_url=server.base_url, api_key=SECRET), max_tokens=2)
    (ticket,) = [t for e in executors.executors.values() for t in e.tickets]
    route = view.routes[MODEL]
    seed = draw_seed(route.beacon_output, ticket.request_id, ticket.attempt)
    assert ticket.executor == draw_executor(seed, route.candidates)
    assert executors.executors[ticket.executor].calls == 1
    assert (ticket.beacon_round, ticket.height, ticket.model) == (3, 10, MODEL)
    assert len(ticket.prompt_hash) == 32


def test_an_executor_down_before_its_first_token_is_replaced_by_the_next_draw(
        executors) -> None:
    executors.add("race1live")
    executors.add_dead("race1dead")
    executors.add("race1refuses", "refuse")
    server, _ = gateway(executors)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        attempts = []
        for _ in range(12):
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
            assert raw.parse().choices[0].message.content == "Hello there"
            assert raw.headers["x-race-executor"] == "race1live"
            attempts.append(int(raw.headers["x-race-attempt"]))
    assert max(attempts) > 0


def test_no_executor_answering_is_a_503_and_busy_ones_ask_to_retry(executors) -> None:
    executors.add_dead("race1dead")
    executors.add("race1busy", "busy")
    server, _ = gateway(executors)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        with pytest.raises(openai.InternalServerError) as failed:
            ask(client.with_options(max_retries=0), max_tokens=2)
    assert failed.value.status_code == 503
    assert failed.value.response.headers["retry-after"]


def test_a_request_the_engine_refuses_is_a_400_without_another_draw(executors) -> None:
    refusing = executors.add("race1a", "invalid")
    server, _ = gateway(executors)
    with server, pytest.raises(openai.BadRequestError, match="invalid"):
        ask(openai.OpenAI(base_url=server.base_url, api_key=SECRET), max_tokens=2)
    assert refusing.calls == 1


def test_an_executor_dying_mid_stream_ends_it_with_an_error_event(executors) -> None:
    executors.add("race1a", "die")
    server, _ = gateway(executors)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        received = []
        with pytest.raises(openai.APIError, match="mid-answer"):
            for chunk in ask(client, stream=True, max_tokens=5):
                received.append(chunk)
        pending = server.relay.ledger.unsettled
    assert any(c.choices and c.choices[0].delta.content == "Hello" for c in received)
    # Charged at most for what was produced: two tokens, no prompt (its usage never came).
    assert sum(sum(t.values()) for t in pending.values()) == 2 * PRICE


def test_refusals_raise_the_clients_exception_classes(executors) -> None:
    executors.add("race1a")
    server, view = gateway(executors, remaining=20 * PRICE, max_context=1024)
    view.add_key("race-revoked", status=2)
    view.add_key("race-narrow", models=("another-model",))
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        with pytest.raises(openai.AuthenticationError):
            ask(openai.OpenAI(base_url=server.base_url, api_key="race-unknown"))
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            ask(openai.OpenAI(base_url=server.base_url, api_key="race-revoked"))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[
                {"role": "user", "content": "hi"}])
        with pytest.raises(openai.NotFoundError):
            ask(openai.OpenAI(base_url=server.base_url, api_key="race-narrow"))
        with pytest.raises(openai.BadRequestError):
            ask(client, top_p=0)
        with pytest.raises(openai.BadRequestError):
            ask(client, n=9)
        with pytest.raises(openai.BadRequestError):
            ask(client, max_tokens=5000)
        with pytest.raises(openai.RateLimitError) as broke:
            ask(client, max_tokens=200)
    assert broke.value.response.headers["x-should-retry"] == "false"
    assert broke.value.body["type"] == "insufficient_quota"


def test_requests_in_flight_hold_their_worst_case_against_the_budget(executors) -> None:
    executors.add("race1a", "slow")
    # Room for one request of up to 20 tokens' worst case, not two.
    worst = (len("hi") + len("user") + 8 + 64 + 20) * PRICE
    server, _ = gateway(executors, remaining=worst + worst // 2)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET)
        first = ask(client, stream=True, max_tokens=20)
        next(iter(first))
        with pytest.raises(openai.RateLimitError) as second:
            ask(client.with_options(max_retries=0), max_tokens=20)
        first.close()
    assert second.value.response.headers["x-should-retry"] == "true"


def test_each_key_is_rate_limited(executors) -> None:
    executors.add("race1a")
    server, _ = gateway(executors, settings=RelaySettings(rate_per_second=0.5, rate_burst=2))
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key=SECRET).with_options(
            max_retries=0)
        ask(client, max_tokens=1)
        ask(client, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as limited:
            ask(client, max_tokens=1)
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_a_client_that_goes_away_stops_the_executor(executors) -> None:
    slow = executors.add("race1a", "slow")
    server, _ = gateway(executors)
    with server:
        stream = ask(openai.OpenAI(base_url=server.base_url, api_key=SECRET), stream=True,
                     max_tokens=5)
        next(iter(stream))
        stream.close()
        for _ in range(50):
            if slow.cancelled:
                break
            time.sleep(0.1)
    assert slow.cancelled == 1


def test_grpc_users_get_the_same_relay(executors) -> None:
    executors.add("race1a")
    view = FakeView(executors.endpoints)
    view.add_key(SECRET)
    with GatewayServer(view, grpc_address="127.0.0.1:0") as server:
        address = f"127.0.0.1:{server.grpc.port}"
        request = sidecar_pb2.GenerateRequest(model=MODEL, prompt="hi",
                                              sampling=sidecar_pb2.SamplingParams(max_tokens=3))
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.InferenceStub(channel)
            chunks = list(stub.GenerateStream(request, metadata=(
                ("authorization", f"Bearer {SECRET}"),)))
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.GenerateStream(request, metadata=(
                    ("authorization", "Bearer race-unknown"),)))
            models = stub.ListModels(pb.QueryInferenceModelsRequest())
    assert "".join(c.text for c in chunks) == "Hello there,"
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert [m.id for m in models.models] == [MODEL]
