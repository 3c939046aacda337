"""Build the agent from its config (the operator key, the sidecar client, the default
duties) and run it until SIGTERM or SIGINT.

The first signal asks the agent to finish its current height and stop (exit status 0);
a second one cancels it at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from race_node.agent.agent import AgentError, NodeAgent
from race_node.agent.beacon import beacon_duty
from race_node.agent.config import AgentConfig
from race_node.agent.executor.install import install_executor
from race_node.agent.heartbeat import heartbeat_duty
from race_node.agent.race import race_duty
from race_node.agent.verifier import verifier_duty
from race_node.client.broadcast import Signer
from race_node.client.keyring import Keyring, KeyringError
from race_node.client.sidecar import SidecarClient
from race_node.node.home import NodeHome

log = logging.getLogger("race.agent")


def build_agent(config: AgentConfig) -> NodeAgent:
    """The agent with the operator's key and the duties this release has: the heartbeat, the
    beacon, the executor's (with an executor address), the Race and the verifier.

    The verifier duty runs on every node: a weighted node that does not commit and reveal
    its seeds is audited as having skipped its draws (docs/verification.md); without a
    sidecar it still keeps its seeds, but cannot replay what it is drawn for."""
    keyring = Keyring(NodeHome(config.home).keyring_dir)
    try:
        signer = Signer.from_keyring(keyring, config.key_name)
    except KeyringError as exc:
        raise AgentError(f"cannot load the operator key: {exc}") from exc
    sidecar = (SidecarClient(config.sidecar_address, config.sidecar_token,
                             ca_cert=config.sidecar_ca)
               if config.sidecar_address else None)
    agent = NodeAgent(config, signer, sidecar=sidecar)
    if config.heartbeat_every:
        agent.on_block(heartbeat_duty(config.heartbeat_every), name="heartbeat")
    agent.on_block(beacon_duty(config.agent_dir), name="beacon")
    if config.executor_address is not None and sidecar is not None:
        install_executor(agent, config, sidecar)
    agent.on_block(race_duty(config.agent_dir), name="race")
    agent.on_block(verifier_duty(config.agent_dir, signer), name="verifier")
    return agent


async def run_until_signalled(agent: NodeAgent) -> None:
    """Run ``agent``; SIGTERM/SIGINT stop it cleanly, a second signal at once."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal(signum: signal.Signals) -> None:
        if agent_stopping.is_set():
            log.warning("%s again: stopping now", signum.name)
            if main is not None:
                main.cancel()
            return
        log.info("%s: finishing the current height, then stopping", signum.name)
        agent_stopping.set()
        agent.request_stop()

    agent_stopping = asyncio.Event()
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await agent.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def run_agent(config: AgentConfig) -> None:
    """Build and run the agent until it is signalled to stop."""
    agent = build_agent(config)
    try:
        asyncio.run(run_until_signalled(agent))
    except asyncio.CancelledError:
        log.warning("stopped before finishing the current height; it is redone at restart")
