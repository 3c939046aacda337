"""A local test network: N validators on 127.0.0.1, each a cometbft + ABCI app pair and a
provider (its GPU sidecar and node agent).

``Localnet`` creates the validators' homes with one shared genesis, wires them as
persistent peers on port offsets, and starts or stops them and their providers in the
background with pid files and logs, so scripts, tests and ``race localnet`` drive the
same code.
"""

from race_node.localnet.network import (
    EngineStatus,
    GatewayStatus,
    Localnet,
    LocalnetError,
    NodeStatus,
)
from race_node.localnet.providers import AgentStatus, SidecarStatus
from race_node.localnet.spec import LocalnetSpec

__all__ = ["AgentStatus", "EngineStatus", "GatewayStatus", "Localnet", "LocalnetError",
           "LocalnetSpec", "NodeStatus", "SidecarStatus"]
