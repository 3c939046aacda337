"""A new provider joins a running localnet: open entry (whitepaper section 4, docs/race.md,
"Open entry").

:func:`join_provider` adds a full node with :meth:`Localnet.add_node` (it follows the
chain by block sync), gives its home a ``validator`` key, and starts a sidecar (its own
port and token; inference from the localnet's shared engine, when there is one) and an
agent next to it, exactly as every validator of the localnet has. What it does not do is
what a real operator does next: fund the key and ``race provider register``. The node
becomes a validator only if its Race count is accepted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from race_node.client.keyring import Keyring
from race_node.localnet.network import LEAN_TORCH_ENV, OFFLINE_ENV, Localnet, LocalnetError
from race_node.localnet.providers import (
    SIDECAR_TOKEN_ENV,
    UPSTREAM_TOKEN_ENV,
    read_token,
    write_token,
)
from race_node.localnet.spec import AGENT_STATUS_OFFSET, PORTS_PER_NODE, SIDECAR_OFFSET
from race_node.node.home import NodeHome
from race_node.node.process import ManagedProcess, stop_together

KEY_NAME = "validator"


@dataclass
class JoinedProvider:
    """The joined node's home, RPC, operator account and its sidecar and agent."""

    index: int
    home: NodeHome
    rpc: str
    operator: str
    sidecar_address: str
    status_url: str
    sidecar: ManagedProcess
    agent: ManagedProcess

    def start(self) -> None:
        """Start the sidecar, then the agent (each unless it runs)."""
        for process in (self.sidecar, self.agent):
            if not process.running():
                process.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the agent and the sidecar (the node itself stops with the localnet)."""
        stop_together([self.agent], timeout)
        stop_together([self.sidecar], timeout)


def join_provider(net: Localnet, ready_timeout: float = 60.0) -> JoinedProvider:
    """Add a full node that is also a provider's machine, and start its sidecar and agent.

    The node's ports are the slot after the validators' and earlier full nodes'
    (``base_port + 10 * slot``: p2p, RPC, ..., sidecar at +5, agent status at +6).
    """
    providers = net.providers()
    if providers is None:
        raise LocalnetError(f"the localnet in {net.directory} has no providers (created "
                            "with --no-providers): a joining provider needs their engine")
    index = net.add_node(state_sync=False, ready_timeout=ready_timeout)
    spec = net.spec()
    slot = spec.validators + index
    node = net.full_node(index)
    home = NodeHome(Path(node["home"]))
    operator = Keyring(home.keyring_dir).add(KEY_NAME).address
    write_token(home.sidecar_token_file)
    sidecar_port = spec.base_port + PORTS_PER_NODE * slot + SIDECAR_OFFSET
    status_port = spec.base_port + PORTS_PER_NODE * slot + AGENT_STATUS_OFFSET
    sidecar_address = f"127.0.0.1:{sidecar_port}"
    env = {**OFFLINE_ENV, **LEAN_TORCH_ENV, SIDECAR_TOKEN_ENV: read_token(home.sidecar_token_file)}
    engine = net.engine()
    if engine is not None:
        inference = ["--inference-upstream", engine["address"],
                     "--inference-upstream-token-env", UPSTREAM_TOKEN_ENV]
        env[UPSTREAM_TOKEN_ENV] = read_token(Path(engine["token_file"]))
    elif providers["inference_engine"] == "none":
        inference = ["--no-inference"]
    else:
        inference = ["--model", providers["model_option"]]
    sidecar = ManagedProcess(
        name="sidecar",
        argv=[sys.executable, "-m", "gpu_sidecar.cli", "serve", "--address", sidecar_address,
              "--token-env", SIDECAR_TOKEN_ENV, *inference,
              "--race-config", providers["race_config"]],
        log_path=home.logs_dir / "sidecar.log", pid_path=home.run_dir / "sidecar.pid", env=env)
    agent = ManagedProcess(
        name="agent",
        argv=[sys.executable, "-m", "governance.main", "agent", "start",
              "--home", str(home.root), "--node", node["rpc"], "--sidecar", sidecar_address,
              "--sidecar-token-file", str(home.sidecar_token_file),
              "--status-address", f"127.0.0.1:{status_port}", "--key", KEY_NAME],
        log_path=home.logs_dir / "agent.log", pid_path=home.run_dir / "agent.pid",
        env=dict(OFFLINE_ENV))
    joined = JoinedProvider(index, home, node["rpc"], operator, sidecar_address,
                            f"http://127.0.0.1:{status_port}/status", sidecar, agent)
    joined.start()
    return joined
