"""The sidecar client against a real sidecar serving the tiny model, behind a bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from race_node.client.sidecar import SidecarClient, SidecarError
from tests.client.live_node import REPO_ROOT
from tests.client.sidecar_process import SidecarProcess

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(400)]

TINY_MODEL = REPO_ROOT / ".cache" / "models" / "tiny-random"
TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    if not (TINY_MODEL / "config.json").is_file():
        raise RuntimeError(f"{TINY_MODEL} is missing: run `make setup` first")
    process = SidecarProcess(tmp_path_factory.mktemp("sidecar") / "sidecar.log",
                             ["--no-race", "--model", f"tiny={TINY_MODEL},max_output_tokens=8"],
                             token=TOKEN)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_health_models_and_a_completion_with_the_token(sidecar: SidecarProcess) -> None:
    async with SidecarClient(sidecar.address, token=TOKEN) as client:
        health = await client.health()
        models = await client.list_models()
        answer = await client.generate("tiny", prompt="The race is", max_tokens=4,
                                       temperature=0.0)

    assert health.healthy and health.models == ["tiny"]
    assert health.race_engine is None  # served with --no-race
    assert [m.name for m in models] == ["tiny"]
    assert answer.usage.completion_tokens == 4 and len(answer.choices) == 1


async def test_a_missing_token_and_an_unknown_model_are_clear_errors(
        sidecar: SidecarProcess) -> None:
    async with SidecarClient(sidecar.address) as anonymous:
        with pytest.raises(SidecarError) as refused:
            await anonymous.health()
    async with SidecarClient(sidecar.address, token=TOKEN) as client:
        with pytest.raises(SidecarError) as unknown:
            await client.generate("no-such-model", prompt="hi")

    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert unknown.value.code is grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in str(unknown.value)
