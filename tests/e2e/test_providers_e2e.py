"""Every validator a provider: `race localnet start` on a default localnet brings up four
nodes, each with its cometbft, its app, its agent and its own sidecar (own port, own
token) in front of one shared inference engine serving SmolLM2-135M-Instruct on the CPU.
`race localnet status` shows four healthy agents and sidecars with the model served, and
each node's own sidecar answers a completion through the sidecar client with that node's
token, and only with it.

One bring-up for the module: on 2 cores it takes about a minute (the engine loads the
model while the validators start)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from localnet_ports import free_port_block
from typer.testing import CliRunner

from race_node.client.sidecar import SidecarClient, SidecarError
from race_node.localnet import Localnet

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow,
              pytest.mark.timeout(900)]

PROVIDERS = 4
MODEL = "SmolLM2-135M-Instruct"


def race(*args: str) -> dict:
    from governance.main import app

    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    """A default four-provider localnet (shared engine), started and healthy."""
    directory = tmp_path_factory.mktemp("providers") / "net"
    race("localnet", "init", "--validators", str(PROVIDERS), "--dir", str(directory),
         "--base-port", str(free_port_block(PROVIDERS)))
    net = Localnet(directory)
    try:
        race("localnet", "start", "--dir", str(directory))
        yield net
    finally:
        net.stop(timeout=20)


def test_status_shows_four_healthy_providers_serving_the_model(providers: Localnet) -> None:
    status = race("localnet", "status", "--dir", str(providers.directory))

    nodes = status["nodes"]
    assert len(nodes) == PROVIDERS
    assert all(n["running"] and n["height"] >= 1 and n["app_hash"] for n in nodes)
    assert [n["agent"]["healthy"] for n in nodes] == [True] * PROVIDERS, nodes
    assert [n["sidecar"]["healthy"] for n in nodes] == [True] * PROVIDERS, nodes
    assert all(n["sidecar"]["models"] == [MODEL] for n in nodes)
    assert len({n["sidecar"]["address"] for n in nodes}) == PROVIDERS
    assert status["engine"]["healthy"] and status["engine"]["models"] == [MODEL]
    assert status["providers"]["race_config"] == "small"
    assert status["gateway"]["running"] is True


async def test_each_nodes_own_sidecar_answers_a_completion(providers: Localnet) -> None:
    for index in range(PROVIDERS):
        async with providers.sidecar_client(index) as client:
            answer = await client.generate(MODEL, messages=[("user", "Say hello.")],
                                           max_tokens=8, temperature=0.0)
        assert answer.model == MODEL
        assert answer.choices[0].text.strip(), f"node{index}: empty completion"
        assert 0 < answer.usage.completion_tokens <= 8


async def test_a_sidecar_refuses_another_nodes_token(providers: Localnet) -> None:
    node1 = providers.node(1)["sidecar"]["address"]
    node0_token = Path(providers.node(0)["sidecar"]["token_file"]).read_text().strip()

    async with SidecarClient(node1, node0_token) as impostor:
        with pytest.raises(SidecarError) as refused:
            await impostor.generate(MODEL, prompt="hi", max_tokens=1)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_race_localnet_complete_goes_through_the_chosen_nodes_sidecar(
        providers: Localnet) -> None:
    answer = race("localnet", "complete", "Name a prime number.", "--dir",
                  str(providers.directory), "--node", "3", "--max-tokens", "8")

    assert answer["sidecar"] == providers.node(3)["sidecar"]["address"]
    assert answer["model"] == MODEL and answer["text"].strip()
    assert answer["usage"]["completion_tokens"] > 0
