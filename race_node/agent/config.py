"""What the agent is told at start: its home, node, key, sidecar, status address, duties."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from race_node.client.sidecar import SidecarConfigError, check_sidecar_security, read_ca_cert

DEFAULT_STATUS_ADDRESS = "127.0.0.1:26690"
DEFAULT_HEARTBEAT_EVERY = 10


class AgentConfigError(ValueError):
    """A setting the agent cannot work with; the message says which and why."""


def split_host_port(address: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port); a clear error otherwise."""
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AgentConfigError(f"bad {what} {address!r}: expected HOST:PORT, "
                               "e.g. 127.0.0.1:26690")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AgentConfig:
    """Everything ``race agent start`` decides before the agent runs."""

    home: Path
    rpc_url: str
    key_name: str = "validator"
    sidecar_address: str | None = None
    # Never printed: repr=False keeps it out of logs and tracebacks.
    sidecar_token: str | None = field(default=None, repr=False)
    # The CA (PEM) of the sidecar's TLS certificate: talk TLS to it. Required when the
    # sidecar is not on loopback (it serves only TLS there).
    sidecar_ca: Path | None = None
    status_address: str = DEFAULT_STATUS_ADDRESS
    allow_remote_status: bool = False
    heartbeat_every: int = DEFAULT_HEARTBEAT_EVERY
    sidecar_health_interval_s: float = 5.0
    # The executor endpoint relays call (race.v1.Executor); None: this node executes nothing.
    executor_address: str | None = None
    # What MsgServeModel registers (default: executor_address).
    executor_endpoint: str | None = None
    # Settle tickets every N blocks (sooner when a batch is full or a ticket nears expiry).
    settle_every: int = 3

    def __post_init__(self) -> None:
        host, _ = split_host_port(self.status_address, "--status-address")
        if not is_loopback(host) and not self.allow_remote_status:
            raise AgentConfigError(
                f"--status-address {self.status_address} is not a loopback address; the "
                "status endpoint is unauthenticated, so pass --allow-remote-status to "
                "serve it there deliberately")
        if self.sidecar_address is not None:
            split_host_port(self.sidecar_address, "--sidecar")
            try:
                check_sidecar_security(self.sidecar_address, self.sidecar_token or None,
                                       self.sidecar_ca)
                if self.sidecar_ca is not None:
                    read_ca_cert(self.sidecar_ca)
            except SidecarConfigError as exc:
                raise AgentConfigError(str(exc)) from exc
        elif self.sidecar_ca is not None:
            raise AgentConfigError("--sidecar-ca needs --sidecar: it is the CA of that "
                                   "sidecar's TLS certificate")
        if self.heartbeat_every < 0:
            raise AgentConfigError("--heartbeat-every must be 0 (off) or a number of blocks")
        if self.executor_address is not None:
            split_host_port(self.executor_address, "--executor-address")
            if self.sidecar_address is None:
                raise AgentConfigError("--executor-address needs --sidecar: the executor runs "
                                       "requests on its sidecar")
        if self.executor_endpoint is not None:
            split_host_port(self.executor_endpoint, "--executor-endpoint")
        if self.settle_every < 1:
            raise AgentConfigError("--settle-every must be at least 1 block")
        if self.sidecar_health_interval_s <= 0:
            raise AgentConfigError("the sidecar health interval must be positive")

    @property
    def status_host_port(self) -> tuple[str, int]:
        return split_host_port(self.status_address, "--status-address")

    @property
    def agent_dir(self) -> Path:
        """``HOME/agent``: the cursor and the broadcast journal."""
        return self.home / "agent"

    @property
    def cursor_path(self) -> Path:
        return self.agent_dir / "cursor.json"

    @property
    def journal_path(self) -> Path:
        return self.agent_dir / "journal.sqlite"

    @property
    def executor_store_path(self) -> Path:
        """``HOME/agent/inference.sqlite``: tickets to settle and transcripts."""
        return self.agent_dir / "inference.sqlite"
