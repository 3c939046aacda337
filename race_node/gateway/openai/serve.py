"""Build the OpenAI-compatible gateway for ``race gateway serve``: the chain view of its
node, the relay key from the keyring (never logged), the relay, and optionally the gRPC
inference service."""

from __future__ import annotations

from pathlib import Path

from race_node.client.keyring import Keyring, KeyringError
from race_node.gateway.openai.api import OpenAIGateway
from race_node.gateway.openai.grpc_service import InferenceServer
from race_node.gateway.openai.relay import Relay, RelaySettings
from race_node.inference.view import ChainView
from race_node.node.home import NodeHome


class GatewaySetupError(Exception):
    """The relay key cannot be loaded."""


def build_openai_gateway(node: str, *, home: Path, relay_key: str | None,
                         inference_grpc_address: str | None = None,
                         settings: RelaySettings | None = None) -> OpenAIGateway:
    """The relay for the node at ``node``, signing with keyring key ``relay_key`` of
    ``home`` (None: the OpenAI routes answer 503 until started with a key)."""
    private_key = None
    if relay_key is not None:
        try:
            private_key = Keyring(NodeHome(home).keyring_dir).private_key(relay_key)
        except KeyringError as exc:
            raise GatewaySetupError(f"cannot load relay key {relay_key!r} from {home}: "
                                    f"{exc}") from exc
    relay = Relay(ChainView(node), private_key, settings)
    gateway = OpenAIGateway(relay)
    if inference_grpc_address:
        server = InferenceServer(relay, inference_grpc_address)
        gateway.extra_startup.append(server.start)
        gateway.extra_shutdown.append(server.close)
    return gateway
