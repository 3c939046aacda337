"""A localnet node as a provider: its sidecar, its agent, and the engine they may share.

Every node that ``race localnet`` starts is a provider (DESIGN.md section 2): next to its
cometbft and app it runs a GPU sidecar (``race sidecar serve``) on its own port, behind
its own bearer token (``HOME/sidecar/token``, the node's identity towards its sidecar),
and a node agent that drives the sidecar from chain events. On a small machine the
sidecars forward inference to one shared engine process (docs/inference.md, "Sharing
one engine"); each keeps its own Race engine.

This module holds what is true of one provider: its tokens, how its health is probed,
and what "healthy" means. ``network.Localnet`` decides when processes start and stop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from race_node.client.sidecar import SidecarClient, SidecarError
from race_node.node.process import ManagedProcess, stop_together

TOKEN_BYTES = 32
PROBE_TIMEOUT_S = 3.0
SIDECAR_TOKEN_ENV = "RACE_SIDECAR_TOKEN"
UPSTREAM_TOKEN_ENV = "RACE_INFERENCE_UPSTREAM_TOKEN"


class ProviderConfigError(Exception):
    """A provider's token file is missing or readable by others."""


def write_token(path: Path) -> None:
    """A fresh random bearer token in ``path``, readable by its owner only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")


def read_token(path: Path) -> str:
    """The token in ``path``; refuses a missing, empty, or group/world-readable file."""
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except OSError as exc:
        raise ProviderConfigError(f"cannot read the sidecar token {path}: {exc}") from exc
    if mode & 0o077:
        raise ProviderConfigError(f"{path} is readable by others (mode {mode & 0o777:o}); "
                                  f"run `chmod 600 {path}`")
    if not token:
        raise ProviderConfigError(f"{path} is empty")
    return token


@dataclass(frozen=True)
class SidecarProbe:
    """One sidecar as its own client sees it: serving or not, and the models it serves."""

    healthy: bool
    models: list[str] = field(default_factory=list)
    error: str | None = None


async def _probe_sidecar(address: str, token: str | None) -> SidecarProbe:
    try:
        async with SidecarClient(address, token, timeout=PROBE_TIMEOUT_S) as client:
            health = await client.health()
    except SidecarError as exc:
        return SidecarProbe(healthy=False, error=str(exc))
    if not health.healthy:
        return SidecarProbe(healthy=False, models=health.models, error="not serving")
    return SidecarProbe(healthy=True, models=health.models)


def probe_sidecars(targets: Sequence[tuple[str, str | None]]) -> list[SidecarProbe]:
    """Health of each (address, token) at once, through the sidecar client."""
    async def probe_all() -> list[SidecarProbe]:
        return list(await asyncio.gather(*(_probe_sidecar(a, t) for a, t in targets)))

    return asyncio.run(probe_all()) if targets else []


@dataclass(frozen=True)
class AgentProbe:
    """The agent's own report (``GET /status``), or why it could not be read."""

    report: dict[str, Any] | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        """The agent answers, follows its node, and its sidecar serves."""
        if self.report is None:
            return False
        node = self.report.get("node") or {}
        sidecar = self.report.get("sidecar") or {}
        return bool(node.get("connected")) and bool(sidecar.get("healthy"))


def probe_agent(status_url: str) -> AgentProbe:
    try:
        response = httpx.get(status_url, timeout=PROBE_TIMEOUT_S)
        response.raise_for_status()
        report = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return AgentProbe(error=f"{status_url}: {exc}")
    if not isinstance(report, dict):
        return AgentProbe(error=f"{status_url}: expected a JSON object")
    return AgentProbe(report=report)


@dataclass(frozen=True)
class AgentStatus:
    """A node's agent in ``race localnet status``."""

    running: bool
    status: str
    healthy: bool = False
    last_height: int | None = None
    txs_sent: int | None = None
    txs_failed: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, running: bool, status_url: str, probe: AgentProbe | None) -> AgentStatus:
        if probe is None or probe.report is None:
            return cls(running=running, status=status_url,
                       error=probe.error if probe else None)
        txs = probe.report.get("txs") or {}
        return cls(running=running, status=status_url, healthy=running and probe.healthy,
                   last_height=probe.report.get("last_height"), txs_sent=txs.get("sent"),
                   txs_failed=txs.get("failed"),
                   error=None if probe.healthy else _agent_problem(probe.report))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _agent_problem(report: dict[str, Any]) -> str:
    node, sidecar = report.get("node") or {}, report.get("sidecar") or {}
    if not node.get("connected"):
        return f"not connected to its node {node.get('rpc', '')}".strip()
    return f"its sidecar is not healthy: {sidecar.get('error') or 'not serving'}"


@dataclass(frozen=True)
class SidecarStatus:
    """A node's sidecar (or the shared engine) in ``race localnet status``."""

    address: str
    running: bool
    healthy: bool = False
    models: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, address: str, running: bool, probe: SidecarProbe | None) -> SidecarStatus:
        if probe is None:
            return cls(address=address, running=running)
        return cls(address=address, running=running, healthy=running and probe.healthy,
                   models=probe.models, error=probe.error)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProcessGroup:
    """Processes of one kind (the agents, the sidecars, the shared engine): reported dead
    as soon as one of them is, stopped together."""

    processes: list[ManagedProcess]

    def dead_process(self) -> ManagedProcess | None:
        return next((p for p in self.processes if not p.running()), None)

    def stop(self, timeout: float = 15.0) -> None:
        stop_together(self.processes, timeout)
