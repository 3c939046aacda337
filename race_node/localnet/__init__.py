"""A local test network: N validators on 127.0.0.1, each a cometbft + ABCI app pair.

``Localnet`` creates the validators' homes with one shared genesis, wires them as
persistent peers on port offsets, and starts or stops them in the background with pid
files and logs, so scripts, tests and ``race localnet`` drive the same code.
"""

from race_node.localnet.network import GatewayStatus, Localnet, LocalnetError, NodeStatus
from race_node.localnet.spec import LocalnetSpec

__all__ = ["GatewayStatus", "Localnet", "LocalnetError", "LocalnetSpec", "NodeStatus"]
