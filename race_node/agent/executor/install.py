"""Wire the executor into an agent: the endpoint relays call (started and stopped with the
agent), the serve-model duty and the settlement duty, sharing one chain view and store."""

from __future__ import annotations

from race_node.agent.agent import NodeAgent
from race_node.agent.config import AgentConfig
from race_node.agent.executor.service import ExecutorServer, ExecutorService
from race_node.agent.executor.serving import ServingDuty
from race_node.agent.executor.settlement import SettlementDuty
from race_node.agent.executor.store import ExecutorStore
from race_node.client.sidecar import SidecarClient
from race_node.inference.view import ChainView


def install_executor(agent: NodeAgent, config: AgentConfig, sidecar: SidecarClient) -> None:
    """Serve ``race.v1.Executor`` on ``config.executor_address`` and register the duties
    that keep the chain's serving list current and settle what was executed."""
    assert config.executor_address is not None
    endpoint = config.executor_endpoint or config.executor_address
    view = ChainView(config.rpc_url)
    store = ExecutorStore(config.executor_store_path)
    # Its own channel to the sidecar: the health monitor redials the agent's channel when
    # a check fails, which would cancel every request streaming over it.
    own_sidecar = sidecar.another()
    service = ExecutorService(agent.operator_address, view, own_sidecar, store)
    agent.servers.append(ExecutorServer(service, config.executor_address, endpoint))
    agent.on_block(ServingDuty(service, endpoint).on_block, name="serve-models")
    settlement = SettlementDuty(store, view, every=config.settle_every)
    agent.on_block(settlement.on_block, name="settle-tickets")
