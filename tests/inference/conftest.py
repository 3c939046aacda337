"""One real sidecar for the whole test package: vLLM's CPU engine behind gRPC.

The sidecar runs as its own process (``python -m gpu_sidecar.cli serve``), exactly as a
provider runs it, serving two models: SmolLM2-135M-Instruct (converted from GGUF by
``make setup``) and ``tiny-random``, a small random model over the same tokenizer
whose outputs the replay check must reject. Starting it costs about a minute and a
half, so it starts once per session; the test that sends SIGTERM runs last.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from gpu_sidecar.inference.prepare_models import (
    DEFAULT_MODEL_NAME,
    TINY_MODEL_NAME,
    default_models_dir,
    is_complete,
)
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

SMOLLM2 = DEFAULT_MODEL_NAME
TINY = TINY_MODEL_NAME
SMOLLM2_MAX_PROMPT_TOKENS = 512
SMOLLM2_MAX_OUTPUT_TOKENS = 256
TINY_MAX_QUEUED_REQUESTS = 2
STARTUP_TIMEOUT_S = 300.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here needs vLLM; the SIGTERM test stops the shared sidecar, so it goes last."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in ours:
        item.add_marker(pytest.mark.vllm)
    last = [item for item in ours if item.get_closest_marker("stops_sidecar")]
    for item in last:
        items.remove(item)
        items.append(item)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stops_sidecar: sends SIGTERM to the shared sidecar")


@dataclass
class Sidecar:
    """The running sidecar process and where to reach it."""

    address: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(sidecar: Sidecar) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(sidecar.address) as channel:
        stub = pb_grpc.InferenceEngineStub(channel)
        while time.monotonic() < deadline:
            if sidecar.process.poll() is not None:
                raise RuntimeError(f"the sidecar exited early:\n{sidecar.log_tail()}")
            try:
                if stub.Health(pb.InferenceHealthRequest(), timeout=2).serving:
                    return
            except grpc.RpcError:
                pass
            time.sleep(1.0)
    raise RuntimeError(f"the sidecar did not start in {STARTUP_TIMEOUT_S}s:\n{sidecar.log_tail()}")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    root = default_models_dir()
    for name in (SMOLLM2, TINY):
        if not is_complete(root / name):
            raise RuntimeError(f"{root / name} is missing: run `make setup` first")
    return root


@pytest.fixture(scope="session")
def sidecar(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    address = f"127.0.0.1:{_free_port()}"
    log_path = tmp_path_factory.mktemp("sidecar") / "sidecar.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "gpu_sidecar.cli", "serve", "--no-race",
        "--address", address, "--drain-timeout", "60",
        "--model", f"{SMOLLM2}={models_dir / SMOLLM2},"
                   f"max_prompt_tokens={SMOLLM2_MAX_PROMPT_TOKENS},"
                   f"max_output_tokens={SMOLLM2_MAX_OUTPUT_TOKENS},max_model_len=1024",
        "--model", f"{TINY}={models_dir / TINY},max_queued_requests={TINY_MAX_QUEUED_REQUESTS},"
                   "max_model_len=1024,max_prompt_tokens=512,max_output_tokens=512,"
                   "kv_cache_gib=0.25",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    running = Sidecar(address=address, process=process, log_path=log_path)
    try:
        _wait_until_serving(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def stub(sidecar: Sidecar) -> AsyncIterator[pb_grpc.InferenceEngineStub]:
    async with grpc.aio.insecure_channel(sidecar.address) as channel:
        yield pb_grpc.InferenceEngineStub(channel)


@pytest.fixture(scope="session")
def tokenizer(models_dir: Path):  # noqa: ANN201 - a transformers tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(models_dir / SMOLLM2))


def chat(*messages: tuple[str, str]) -> pb.ChatMessages:
    """Chat messages as the wire type."""
    return pb.ChatMessages(messages=[pb.ChatMessage(role=r, content=c) for r, c in messages])


def user(content: str) -> pb.ChatMessages:
    return chat(("user", content))


def greedy(max_tokens: int, **extra: object) -> pb.SamplingParams:
    return pb.SamplingParams(temperature=0.0, max_tokens=max_tokens, **extra)  # type: ignore[arg-type]


def replay_request(request: pb.GenerateRequest, choice: pb.Completion,
                   model: str | None = None) -> pb.ReplayRequest:
    """What a verifier receives: the original request and the executor's answer."""
    replay = pb.ReplayRequest(
        model=model or request.model,
        sampling=request.sampling,
        output_token_ids=choice.token_ids,
        output_logprobs=choice.logprobs,
        finish_reason=choice.finish_reason,
    )
    if request.WhichOneof("input") == "chat":
        replay.chat.CopyFrom(request.chat)
    else:
        replay.prompt = request.prompt
    return replay
