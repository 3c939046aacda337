"""What a localnet looks like: validator count, ports, chain id, block timing, balances.

Defaults live here and in ``localnet/localnet.toml`` (which ``make run`` uses); every
field can be overridden from the command line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from abci_app.node.init import ConsensusTimings

# Each validator takes PORTS_PER_NODE consecutive ports from base_port: p2p, rpc, and a
# tcp ABCI port used only when the unix socket path would be too long.
PORTS_PER_NODE = 10
DEFAULT_BALANCE_NICOIN = 1_000_000 * 10**9  # 1,000,000 icoin per validator account


class LocalnetSpecError(ValueError):
    """A localnet setting is out of range or of the wrong type."""


@dataclass(frozen=True)
class LocalnetSpec:
    validators: int = 4
    chain_id: str = "race-localnet"
    base_port: int = 26656
    timeout_propose: str = "1s"
    timeout_prevote: str = "300ms"
    timeout_precommit: str = "300ms"
    timeout_commit: str = "500ms"
    create_empty_blocks: bool = True
    create_empty_blocks_interval: str = "0s"
    validator_balance_nicoin: int = DEFAULT_BALANCE_NICOIN
    validator_power: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.validators <= 64:
            raise LocalnetSpecError(f"validators must be between 1 and 64, got {self.validators}")
        last_port = self.base_port + PORTS_PER_NODE * self.validators
        if self.base_port < 1024 or last_port > 65535:
            raise LocalnetSpecError(
                f"ports {self.base_port}..{last_port} do not fit in 1024..65535; "
                "choose another --base-port"
            )
        if self.validator_balance_nicoin < 0 or self.validator_power <= 0:
            raise LocalnetSpecError("balances must be >= 0 and validator power > 0")
        if not self.chain_id or len(self.chain_id) > 50:
            raise LocalnetSpecError("chain_id must be 1-50 characters")

    def timings(self) -> ConsensusTimings:
        return ConsensusTimings(
            timeout_propose=self.timeout_propose,
            timeout_prevote=self.timeout_prevote,
            timeout_precommit=self.timeout_precommit,
            timeout_commit=self.timeout_commit,
            create_empty_blocks=self.create_empty_blocks,
            create_empty_blocks_interval=self.create_empty_blocks_interval,
        )

    def p2p_port(self, index: int) -> int:
        return self.base_port + PORTS_PER_NODE * index

    def rpc_port(self, index: int) -> int:
        return self.base_port + PORTS_PER_NODE * index + 1

    def app_tcp_port(self, index: int) -> int:
        return self.base_port + PORTS_PER_NODE * index + 2

    def with_overrides(self, **overrides: Any) -> LocalnetSpec:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalnetSpec:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LocalnetSpecError(f"unknown localnet settings: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: Path) -> LocalnetSpec:
        """Read ``[localnet]`` from a TOML file."""
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LocalnetSpecError(f"cannot read {path}: {exc}") from exc
        return cls.from_dict(data.get("localnet", {}))
