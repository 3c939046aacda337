"""What a localnet looks like: validator count, ports, chain id, block timing, balances,
genesis module params and the gateway.

Defaults live here and in ``localnet/localnet.toml`` (which ``make run`` uses); every
field can be overridden from the command line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from race_node.node.init import ConsensusTimings

# Each validator takes PORTS_PER_NODE consecutive ports from base_port: p2p, rpc, and a
# tcp ABCI port used only when the unix socket path would be too long. Validator 0's
# offsets GATEWAY_REST_OFFSET and GATEWAY_GRPC_OFFSET hold the localnet's gateway.
PORTS_PER_NODE = 10
GATEWAY_REST_OFFSET = 3
GATEWAY_GRPC_OFFSET = 4
TOML_TABLES = ("localnet", "params")
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
    # REST + gRPC gateway in front of validator 0 (ports base+3 and base+4)
    gateway: bool = True
    # genesis module params: module -> {key: value} (checked by race_node.node.genesis_params)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

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
        if not isinstance(self.params, dict) or not all(
                isinstance(table, dict) for table in self.params.values()):
            raise LocalnetSpecError("params must be tables of key = value per module, "
                                    "e.g. [params.epochs] epoch_length_blocks = 20")

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

    def gateway_rest_port(self) -> int:
        return self.base_port + GATEWAY_REST_OFFSET

    def gateway_grpc_port(self) -> int:
        return self.base_port + GATEWAY_GRPC_OFFSET

    def with_overrides(self, **overrides: Any) -> LocalnetSpec:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = {module: dict(table) for module, table in self.params.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalnetSpec:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LocalnetSpecError(f"unknown localnet settings: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: Path) -> LocalnetSpec:
        """Read ``[localnet]`` and the ``[params.<module>]`` tables from a TOML file."""
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LocalnetSpecError(f"cannot read {path}: {exc}") from exc
        unknown = sorted(set(data) - set(TOML_TABLES))
        if unknown:
            raise LocalnetSpecError(f"{path}: unknown tables {', '.join(unknown)}; "
                                    f"expected {', '.join(TOML_TABLES)}")
        settings = dict(data.get("localnet", {}))
        if "params" in settings:
            raise LocalnetSpecError(f"{path}: put module params in [params.<module>] tables, "
                                    "not in [localnet]")
        if "params" in data:
            settings["params"] = data["params"]
        try:
            return cls.from_dict(settings)
        except TypeError as exc:
            raise LocalnetSpecError(f"{path}: {exc}") from exc
