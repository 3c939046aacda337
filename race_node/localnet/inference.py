"""Inference on a localnet: what ``make run`` needs so the gateway serves completions.

* Genesis registers the providers' model as active (the models module accepts genesis
  models), under the registry id its sidecars serve it by (the folder name in lower case),
  so the agents can serve it from the first block.
* Genesis registers node0's ``validator`` key as a relay owned by node0's account, and the
  gateway signs tickets with it (``race gateway serve --relay-key validator``).
* Each node's agent serves the executor endpoint on its ``EXECUTOR_OFFSET`` port; the
  gateway's gRPC inference service takes node0's ``INFERENCE_GRPC_OFFSET`` port.
* node0's keyring holds a funded ``developer`` key for API keys: the ``validator`` keys
  sign their agents' txs all the time, and a second signer of the same key would race
  them for sequence numbers.

Localnets created before this keep working without it: every addition is read from the
manifest only when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from race_node.client.keyring import Keyring
from race_node.localnet.spec import PORTS_PER_NODE, LocalnetSpec

EXECUTOR_OFFSET = 8
INFERENCE_GRPC_OFFSET = 9
RELAY_KEY_NAME = "validator"
DEVELOPER_KEY_NAME = "developer"
# One unit of compute per token for the localnet's small model; at the genesis price of
# 1000 nicoin per unit a token costs 1 uicoin.
UNITS_OF_COMPUTE_PER_TOKEN = 1
DEFAULT_CONTEXT = 2048
KNOWN_SOURCES = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def registry_id(spec: LocalnetSpec) -> str:
    """The id the providers' sidecars serve the model under."""
    return spec.model_path().name.lower()


def model_context(spec: LocalnetSpec) -> int:
    for setting in spec.model_settings.split(","):
        name, _, value = setting.partition("=")
        if name.strip() == "max_model_len" and value.strip().isdigit():
            return int(value)
    return DEFAULT_CONTEXT


def relay_public_key(keyring_dir: Path) -> bytes:
    key = Keyring(keyring_dir).private_key(RELAY_KEY_NAME)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def genesis_sections(spec: LocalnetSpec, relay_key: bytes, relay_owner: str
                     ) -> dict[str, dict[str, Any]]:
    """The models and inference sections of a localnet with providers."""
    if not spec.providers:
        return {}
    model = registry_id(spec)
    sections: dict[str, dict[str, Any]] = {"models": {"models": [{
        "id": model, "hf_repo": KNOWN_SOURCES.get(model, f"local/{spec.model_path().name}"),
        "revision": "main", "units_of_compute_per_token": UNITS_OF_COMPUTE_PER_TOKEN,
        "max_context": model_context(spec), "validation_threshold_ppm": 990_000,
        "owner": relay_owner}]}}
    if spec.gateway:
        sections["inference"] = {"relays": [{"public_key": relay_key.hex(),
                                             "owner": relay_owner}]}
    return sections


def developer_balance(spec: LocalnetSpec, keyring_dir: Path) -> dict[str, int]:
    """A funded ``developer`` key in node0's keyring (with providers only)."""
    if not spec.providers:
        return {}
    keyring = Keyring(keyring_dir)
    return {keyring.add(DEVELOPER_KEY_NAME).address: spec.validator_balance_nicoin}


def executor_address(spec: LocalnetSpec, index: int) -> str:
    return f"127.0.0.1:{spec.base_port + PORTS_PER_NODE * index + EXECUTOR_OFFSET}"


def gateway_inference(spec: LocalnetSpec, rest_url: str, home0: Path) -> dict[str, str]:
    """The gateway manifest's inference entries."""
    return {"openai": f"{rest_url}/v1", "relay_key": RELAY_KEY_NAME, "relay_home": str(home0),
            "inference_grpc": f"127.0.0.1:{spec.base_port + INFERENCE_GRPC_OFFSET}"}


def agent_arguments(node: dict[str, Any]) -> list[str]:
    """``race agent start`` options for a node's executor (none on older manifests)."""
    executor = node.get("executor")
    if not executor:
        return []
    return ["--executor-address", executor["address"], "--settle-every", "2"]


def gateway_arguments(info: dict[str, Any]) -> list[str]:
    """``race gateway serve`` options for the relay (none on older manifests)."""
    if not info.get("relay_key"):
        return []
    return ["--home", info["relay_home"], "--relay-key", info["relay_key"],
            "--inference-grpc-port", info["inference_grpc"].rsplit(":", 1)[1]]
