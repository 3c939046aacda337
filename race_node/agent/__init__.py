"""The node agent: a provider's off-chain daemon, driven by the chain's blocks.

It follows the chain through the node's websocket, processes every height in order from
its cursor (``HOME/agent/cursor.json``), and runs the duties registered on it: "on each
block" or "on this event, do this". Duties sign and submit txs with the operator's key
through the client library's one broadcast path, keyed in a journal
(``HOME/agent/journal.sqlite``) so that a restart never sends a tx twice. It watches its
sidecar's health, serves a local status endpoint, and stops cleanly on SIGTERM.
"""

from race_node.agent.agent import AgentError, NodeAgent
from race_node.agent.config import AgentConfig
from race_node.agent.duties import BlockContext, ChainEvent

__all__ = ["AgentConfig", "AgentError", "BlockContext", "ChainEvent", "NodeAgent"]
