"""A provider whose sidecar serves another model under the registered model's name: the
cheat that verification exists to catch (docs/inference.md, "The replay check").

:func:`impostor_sidecar` is a localnet node's own sidecar process (same address, token,
log and pid file as ``Localnet.sidecar_process``, so ``Localnet.stop`` stops it), except
that instead of forwarding inference to the localnet's shared engine it runs a vLLM of
its own with ``--model NAME=IMPOSTOR``: it lists the localnet's model (the agent then
registers it with ``MsgServeModel`` as any provider would) while every answer comes from
``IMPOSTOR``. The node's agent is the production one, unchanged; so are its Race engine
and its verifier duty (which replays other nodes' answers with the impostor model). The
production command has no such switch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from race_node.localnet import Localnet, LocalnetSpec
from race_node.localnet.providers import SIDECAR_TOKEN_ENV
from race_node.node.home import REPO_ROOT
from race_node.node.process import ManagedProcess

TINY_RANDOM = "tiny-random"
# As the localnet's shared engine: a stopped localnet does not wait on its answers.
DRAIN_TIMEOUT_S = "10"


def impostor_model_path() -> Path:
    """``tiny-random`` in the models directory (``$RACE_MODELS_DIR`` or
    ``.cache/models``): a two-layer random Llama over SmolLM2's tokenizer, built by
    ``make setup``."""
    return LocalnetSpec(model=TINY_RANDOM).model_path()


def impostor_sidecar(net: Localnet, index: int, impostor: Path) -> ManagedProcess:
    """Node ``index``'s sidecar serving ``impostor`` under the providers' model name, with
    the localnet's model settings and Race config; start it with
    ``env=net.sidecar_environment(index)``."""
    providers, node = net.providers(), net.node(index)
    if providers is None or "sidecar" not in node:
        raise ValueError(f"the localnet in {net.directory} has no providers")
    settings = net.spec().model_settings
    model = f"{providers['model']}={impostor}" + (f",{settings}" if settings else "")
    return ManagedProcess(
        name="sidecar",
        argv=[sys.executable, "-m", "gpu_sidecar.cli", "serve",
              "--address", node["sidecar"]["address"], "--token-env", SIDECAR_TOKEN_ENV,
              "--model", model, "--race-config", providers["race_config"],
              "--drain-timeout", DRAIN_TIMEOUT_S],
        log_path=Path(node["sidecar"]["log"]),
        pid_path=net.home(index).run_dir / "sidecar.pid", cwd=REPO_ROOT)


__all__ = ["TINY_RANDOM", "impostor_model_path", "impostor_sidecar"]
