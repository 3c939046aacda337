"""Inference through the network, end to end: a four-provider localnet (`race localnet
init/start`, one shared CPU engine) and the official `openai` client, unmodified (only
`base_url` and `api_key`), against the gateway node0 runs.

* chat (plain and streamed with usage in the last chunk), legacy completions with logprobs,
  chat with top_logprobs=5, models.list();
* each refusal raises the client's matching exception class (401, 404, 400, 429, 503);
* after settlement the key's escrow has dropped by exactly the tokens the client was told
  about times units times price, each settlement paid its executor and the relay exactly
  their shares of every ticket, and the invariants (the bank's supply, the escrow) hold;
* the draw the gateway reports is the one recomputed from the chain's public data;
* an executor killed with -9: before the first token the relay retries the next draw; in
  mid-stream the client gets a clean error, and is charged at most for what it received;
* replayed, forged and unregistered-relay tickets sent through the node's RPC are refused
  with their own codes.

One bring-up for the module (about two and a half minutes on 2 shared cores).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from abci_app.modules.inference import errors
from abci_app.modules.inference.keeper import escrow_address
from abci_app.modules.inference.params import FEE_SHARES
from abci_app.tx import decode_tx
from race_node.client.broadcast import Broadcaster, Signer
from race_node.client.rpc import CometRPC
from race_node.localnet import Localnet
from race_node.localnet.network import OFFLINE_ENV
from race_node.localnet.providers import SIDECAR_TOKEN_ENV, read_token
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.draw import draw_executor, draw_seed
from race_protocol.inference.fees import split
from race_protocol.inference.ticket import encode_ticket, ticket_signing_bytes
from tests.e2e.localnet_ports import free_port_block
from tests.harness import key_from_seed

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow,
              pytest.mark.timeout(1200)]

PROVIDERS = 4
MODEL = "smollm2-135m-instruct"
# An active registry model no sidecar serves: requests for it find no provider.
UNSERVED = "tiny-random"
SETTLE_TIMEOUT_S = 90.0
BRING_UP_TIMEOUT_S = 900.0


def race(*args: str) -> dict[str, Any]:
    from governance.main import app

    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


class Network:
    """The localnet, its gateway's OpenAI base URL and helpers to read the chain."""

    def __init__(self, net: Localnet) -> None:
        self.net = net
        gateway = net.gateway()
        assert gateway is not None
        self.base_url = gateway["openai"]
        self.rest = gateway["rest"]

    def client(self, api_key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key)

    def new_key(self, budget: str = "50icoin", *extra: str) -> dict[str, Any]:
        return race("apikey", "create", "--from", "developer", "--budget", budget, *extra,
                    "--home", str(self.net.home(0).root))

    def key(self, key_hash: str) -> dict[str, Any]:
        return httpx.get(f"{self.rest}/race/inference/v1/keys/{key_hash}",
                         timeout=10).json()["key"]

    def height(self) -> int:
        with self.net.rpc(0) as rpc:
            return rpc.latest_height()

    def wait_settled(self, key_hash: str, tickets: int) -> dict[str, Any]:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            key = self.key(key_hash)
            if int(key["settled_tickets"]) >= tickets:
                return key
            assert time.monotonic() < deadline, f"only {key['settled_tickets']} settled: {key}"
            time.sleep(0.5)

    def agent_index(self, address: str) -> int:
        return next(i for i in range(PROVIDERS) if self.net.node(i)["account"] == address)

    def restart_agent(self, index: int) -> None:
        """Start a killed agent again (its journal and cursor carry on)."""
        process = self.net.agent_process(index)
        process.kill()  # a SIGKILL just sent may not have landed yet; this waits for it
        process.env = OFFLINE_ENV
        process.start()
        status = self.net.node(index)["agent"]["status"]
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(status, timeout=2).json().get("last_height"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            assert time.monotonic() < deadline, "the agent did not come back"
            time.sleep(0.5)

    def providers(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.rest}/race/inference/v1/providers/{MODEL}",
                         timeout=10).json()["providers"]


def _start_providers(net: Localnet) -> None:
    engine, info = net.engine_process(), net.engine()
    if engine is not None and info is not None:
        engine.env = {**OFFLINE_ENV,
                      SIDECAR_TOKEN_ENV: read_token(Path(info["token_file"]))}
        engine.start()
    for index in range(PROVIDERS):
        sidecar = net.sidecar_process(index)
        sidecar.env = net.sidecar_environment(index)
        sidecar.start()
        agent = net.agent_process(index)
        agent.env = OFFLINE_ENV
        agent.start()


def _serving(network: Network) -> bool:
    try:
        return (len(network.providers()) == PROVIDERS
                and httpx.get(f"{network.base_url}/models", timeout=5).status_code == 200)
    except (httpx.HTTPError, KeyError, ValueError):
        return False


def _register_unserved_model(directory: Path) -> None:
    """Before the first start: the same extra genesis model in every node's genesis."""
    for index in range(PROVIDERS):
        path = directory / f"node{index}" / "config" / "genesis.json"
        genesis = json.loads(path.read_text())
        genesis["app_state"]["models"]["models"].append({
            "id": UNSERVED, "hf_repo": "local/tiny-random", "revision": "main",
            "units_of_compute_per_token": 1, "max_context": 1024,
            "validation_threshold_ppm": 990_000})
        path.write_text(json.dumps(genesis, indent=2))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("inference") / "net"
    race("localnet", "init", "--validators", str(PROVIDERS), "--dir", str(directory),
         "--base-port", str(free_port_block(PROVIDERS)))
    _register_unserved_model(directory)
    net = Localnet(directory)
    try:
        # The validators and the gateway, then every provider process without waiting for
        # the agents' own health reports: ready, for these tests, is every agent serving
        # the model and the gateway listing it.
        net.start(gateway=True)
        _start_providers(net)
        network = Network(net)
        deadline = time.monotonic() + BRING_UP_TIMEOUT_S
        while not _serving(network):
            assert time.monotonic() < deadline, "the agents did not all serve the model"
            time.sleep(1.0)
        yield network
    finally:
        net.stop(timeout=20)


@pytest.fixture(scope="module")
def api_key(network: Network) -> dict[str, Any]:
    return network.new_key()


def chat(client: openai.OpenAI, content: str = "Say hello.", **options: Any) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}],
        **{"max_tokens": 8, **options})


# --- the OpenAI API ------------------------------------------------------------------------

def test_models_list_shows_the_served_model(network: Network, api_key: dict) -> None:
    models = network.client(api_key["api_key"]).models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_chat_completion(network: Network, api_key: dict) -> None:
    answer = chat(network.client(api_key["api_key"]), temperature=0)
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert 0 < answer.usage.completion_tokens <= 8 and answer.usage.prompt_tokens > 0


def test_streamed_chat_ends_with_the_usage(network: Network, api_key: dict) -> None:
    chunks = list(chat(network.client(api_key["api_key"]), "Count to five.", stream=True,
                       stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_legacy_completion_with_logprobs(network: Network, api_key: dict) -> None:
    answer = network.client(api_key["api_key"]).completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=5, logprobs=3,
        temperature=0)
    logprobs = answer.choices[0].logprobs
    assert len(logprobs.tokens) == answer.usage.completion_tokens
    assert "".join(logprobs.tokens) == answer.choices[0].text
    assert all(len(top) == 3 for top in logprobs.top_logprobs)
    assert logprobs.text_offset[0] == 0


def test_chat_with_top_logprobs(network: Network, api_key: dict) -> None:
    answer = chat(network.client(api_key["api_key"]), logprobs=True, top_logprobs=5)
    content = answer.choices[0].logprobs.content
    assert len(content) == answer.usage.completion_tokens
    assert all(len(entry.top_logprobs) == 5 for entry in content)
    assert "".join(entry.token for entry in content) == answer.choices[0].message.content


# --- refusals ------------------------------------------------------------------------------

def test_each_refusal_raises_the_matching_exception(network: Network, api_key: dict) -> None:
    good = network.client(api_key["api_key"])
    with pytest.raises(openai.AuthenticationError):
        chat(network.client("race-not-a-key"))
    with pytest.raises(openai.NotFoundError):
        good.chat.completions.create(model="no-such-model", max_tokens=4,
                                     messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        chat(good, temperature=5)
    with pytest.raises(openai.BadRequestError, match="prompt"):
        chat(good, "word " * 1500)
    with pytest.raises(openai.InternalServerError) as no_provider:
        good.chat.completions.create(model=UNSERVED, max_tokens=4,
                                     messages=[{"role": "user", "content": "hi"}])
    assert no_provider.value.status_code == 503
    poor = network.new_key("0.000002icoin")  # 2000 nicoin: two tokens' worth
    with pytest.raises(openai.RateLimitError) as broke:
        chat(network.client(poor["api_key"]))
    assert broke.value.response.headers["retry-after"]
    assert broke.value.body["code"] == "insufficient_quota"


def test_a_revoked_key_is_refused(network: Network) -> None:
    key = network.new_key("1icoin")
    assert chat(network.client(key["api_key"])).choices
    race("apikey", "revoke", key["key_hash"], "--from", "developer",
         "--home", str(network.net.home(0).root))
    time.sleep(2.5)  # the gateway's view refreshes with the next blocks
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        chat(network.client(key["api_key"]))


# --- money ---------------------------------------------------------------------------------

def _settlements(network: Network, first: int, last: int) -> list[tuple[Any, list[dict]]]:
    """Each committed MsgSettleTickets in blocks first..last, with its tx's events."""
    found = []
    with network.net.rpc(0) as rpc:
        for height in range(first, last + 1):
            results = rpc.block_results(height)
            raw = rpc.block(height)["block"]["data"].get("txs") or []
            for encoded, outcome in zip(raw, results.txs, strict=True):
                if outcome.code:
                    continue
                for packed in decode_tx(base64.b64decode(encoded)).messages:
                    if packed.type_url == "/race.v1.MsgSettleTickets":
                        found.append((pb.MsgSettleTickets.FromString(packed.value),
                                      outcome.events))
    return found


def test_settlement_charges_exactly_and_pays_exact_shares(network: Network) -> None:
    key = network.new_key("20icoin")
    client = network.client(key["api_key"])
    start = network.height()
    answers = [chat(client, f"Name {n} colours.", max_tokens=6 + n) for n in range(4)]
    streamed = list(chat(client, "Name a fruit.", stream=True,
                         stream_options={"include_usage": True}))
    tokens = sum(a.usage.total_tokens for a in answers) + streamed[-1].usage.total_tokens
    pricing = httpx.get(f"{network.rest}/race/inference/v1/providers/{MODEL}",
                        timeout=10).json()["model"]
    price_per_token = int(pricing["price_per_token_nicoin"])

    settled = network.wait_settled(key["key_hash"], 5)

    assert int(settled["spent_nicoin"]) == tokens * price_per_token
    assert int(settled["budget_nicoin"]) - int(settled["remaining_nicoin"]) == \
        tokens * price_per_token
    params = httpx.get(f"{network.rest}/race/inference/v1/params", timeout=10).json()["params"]
    shares = [(share, int(params[field])) for share, field in FEE_SHARES]
    relay_owner = network.net.node(0)["account"]
    checked = 0
    for message, events in _settlements(network, start, network.height()):
        expected: dict[str, int] = {}
        for item in message.tickets:
            ticket = pb.Ticket.FromString(item.ticket)
            charge = min((item.prompt_tokens + item.completion_tokens) * price_per_token,
                         ticket.max_cost_nicoin) if item.completion_tokens else 0
            for share, part in split(charge, shares):
                expected[share] = expected.get(share, 0) + part
        paid: dict[str, int] = {}
        held = 0
        for event in events:
            attributes = {a["key"]: a["value"] for a in event["attributes"]}
            if event["type"] == "settlement_payout":
                paid[attributes["recipient"]] = int(attributes["amount_nicoin"])
            elif event["type"] == "rewards_accrued" and attributes["kind"] == "executor":
                held += int(attributes["amount_nicoin"])
        # The relay is paid at once; the executor's share is held until the cycle's release
        # (docs/rewards.md).
        assert paid == ({relay_owner: expected["relay"]} if expected.get("relay") else {})
        assert held == expected.get("executor", 0)
        checked += 1
    assert checked >= 1
    with network.net.rpc(0) as rpc:
        broken = rpc.abci_query("/app/invariants").json()["broken"]
    assert broken == []


# --- the draw ------------------------------------------------------------------------------

def test_the_reported_draw_is_recomputed_from_public_data(network: Network,
                                                          api_key: dict) -> None:
    raw = network.client(api_key["api_key"]).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    request_id = raw.headers["x-race-request-id"]
    attempt = int(raw.headers["x-race-attempt"])
    draw = httpx.get(f"{network.base_url}/race/draw", params={
        "model": MODEL, "request_id": request_id, "attempt": attempt}, timeout=10).json()
    candidates = [(c["address"], c["weight"]) for c in draw["candidates"]]
    recomputed = draw_executor(draw_seed(bytes.fromhex(draw["beacon_output"]),
                                         bytes.fromhex(request_id), attempt), candidates)
    assert recomputed == draw["executor"]
    counts: dict[str, int] = {}
    for n in range(200):
        rid = hashlib.sha256(n.to_bytes(4, "big")).hexdigest()[:32]
        drawn = httpx.get(f"{network.base_url}/race/draw", params={
            "model": MODEL, "request_id": rid}, timeout=10).json()["executor"]
        counts[drawn] = counts.get(drawn, 0) + 1
    expected = 200 / PROVIDERS
    assert sum((c - expected) ** 2 / expected for c in counts.values()) < 16.27  # p = 0.001


# --- refused tickets through the node's RPC --------------------------------------------------

def _stored_ticket(network: Network, index: int) -> tuple[bytes, bytes]:
    path = network.net.home(index).root / "agent" / "inference.sqlite"
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT ticket, signature FROM tickets WHERE state = 'settled' "
                         "LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (b"", b"")


def test_replayed_forged_and_unregistered_tickets_are_refused(network: Network) -> None:
    index, (ticket_bytes, signature) = next(
        (i, found) for i in range(PROVIDERS) if (found := _stored_ticket(network, i))[0])
    keyring_signer = Signer.from_keyring(network.net.keyring(index), "validator")
    ticket = pb.Ticket.FromString(ticket_bytes)

    def settle(item: pb.SettledTicket) -> int:
        with CometRPC(network.net.node(index)["rpc"]) as rpc:
            broadcaster = Broadcaster(rpc, keyring_signer)
            message = pb.MsgSettleTickets(executor=keyring_signer.address, tickets=[item])
            return broadcaster.submit([message]).check.code

    replay = pb.SettledTicket(ticket=ticket_bytes, signature=signature, prompt_tokens=1,
                              completion_tokens=1, output_commitment=b"\x00" * 32)
    assert settle(replay) == errors.TICKET_ALREADY_SETTLED.code
    raised = pb.Ticket()
    raised.CopyFrom(ticket)
    raised.max_cost_nicoin += 1
    forged = pb.SettledTicket(ticket=encode_ticket(raised), signature=signature,
                              prompt_tokens=1, completion_tokens=1,
                              output_commitment=b"\x00" * 32)
    assert settle(forged) == errors.FORGED_TICKET.code
    stranger = key_from_seed(424242)
    with network.net.rpc(index) as rpc:
        chain_id = str(rpc.status()["node_info"]["network"])
        height = rpc.latest_height()
    unknown = pb.Ticket()
    unknown.CopyFrom(ticket)
    unknown.relay = stranger.public_key().public_bytes_raw()
    unknown.height = height - 1
    unknown.request_id = os.urandom(16)
    raw = encode_ticket(unknown)
    unregistered = pb.SettledTicket(ticket=raw, prompt_tokens=1, completion_tokens=1,
                                    signature=stranger.sign(ticket_signing_bytes(chain_id, raw)),
                                    output_commitment=b"\x00" * 32)
    assert settle(unregistered) == errors.UNREGISTERED_RELAY.code


# --- executors killed with -9 (last: they restart agents) ----------------------------------

def test_an_executor_down_before_its_first_token_is_replaced_by_the_next_draw(
        network: Network, api_key: dict) -> None:
    victim = PROVIDERS - 1
    victim_address = network.net.node(victim)["account"]
    network.net.agent_process(victim).send_signal(signal.SIGKILL)
    time.sleep(0.5)
    try:
        client = network.client(api_key["api_key"])
        retried = 0
        for _ in range(24):
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
            assert raw.parse().choices[0].message.content is not None
            assert raw.headers["x-race-executor"] != victim_address
            retried += int(raw.headers["x-race-attempt"]) > 0
            if retried >= 2:
                break
        assert retried >= 1
    finally:
        network.restart_agent(victim)


def test_an_executor_killed_mid_stream_costs_at_most_what_was_delivered(
        network: Network) -> None:
    key = network.new_key("5icoin")
    client = network.client(key["api_key"])
    delivered = 0
    with client.chat.completions.with_streaming_response.create(
            model=MODEL, stream=True, max_tokens=200, temperature=1.0, logprobs=True,
            messages=[{"role": "user", "content": "Write a long story about a lighthouse."}],
    ) as response:
        executor = response.headers["x-race-executor"]
        victim = network.agent_index(executor)
        with pytest.raises(openai.APIError, match="mid-answer"):
            for chunk in response.parse():
                if chunk.choices and chunk.choices[0].logprobs:
                    delivered += len(chunk.choices[0].logprobs.content)
                if delivered >= 3 and network.net.agent_process(victim).running():
                    network.net.agent_process(victim).send_signal(signal.SIGKILL)
    assert delivered >= 3
    network.restart_agent(victim)
    price = int(httpx.get(f"{network.rest}/race/inference/v1/providers/{MODEL}",
                          timeout=10).json()["model"]["price_per_token_nicoin"])
    time.sleep(5)  # settlement rounds of the restarted agent
    key_after = network.key(key["key_hash"])
    assert int(key_after["spent_nicoin"]) <= delivered * price
    with network.net.rpc(0) as rpc:
        assert rpc.abci_query("/app/invariants").json()["broken"] == []
        escrow = int(rpc.abci_query(f"/bank/balance/{escrow_address()}").json()["amount"])
    assert escrow >= int(key_after["remaining_nicoin"])
