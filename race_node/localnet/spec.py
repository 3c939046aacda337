"""What a localnet looks like: validator count, ports, chain id, block timing, balances,
genesis module params, the gateway, and the providers (each node's sidecar and agent).

Defaults live here and in ``localnet/localnet.toml`` (which ``make run`` uses); every
field can be overridden from the command line.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from race_node.node.home import REPO_ROOT
from race_node.node.init import ConsensusTimings
from race_protocol.race.config import NAMED_CONFIGS

# Each validator takes PORTS_PER_NODE consecutive ports from base_port: p2p, rpc, and a
# tcp ABCI port used only when the unix socket path would be too long; then its
# sidecar's gRPC port and its agent's status port. Validator 0's offsets
# GATEWAY_REST_OFFSET and GATEWAY_GRPC_OFFSET hold the localnet's gateway, and its
# ENGINE_OFFSET the inference engine its providers share.
PORTS_PER_NODE = 10
GATEWAY_REST_OFFSET = 3
GATEWAY_GRPC_OFFSET = 4
SIDECAR_OFFSET = 5
AGENT_STATUS_OFFSET = 6
ENGINE_OFFSET = 7
TOML_TABLES = ("localnet", "params")
DEFAULT_BALANCE_NICOIN = 1_000_000 * 10**9  # 1,000,000 icoin per validator account

INFERENCE_ENGINES = ("shared", "dedicated", "none")
DEFAULT_MODEL = "SmolLM2-135M-Instruct"
# Lean enough for one CPU engine shared by four providers on 2 cores and 24 GiB: a small
# KV cache, few sequences at once, short answers (ModelSpec fields, docs/inference.md).
LEAN_MODEL_SETTINGS = ("max_model_len=1024,max_prompt_tokens=768,max_output_tokens=256,"
                       "max_num_seqs=4,max_queued_requests=16,kv_cache_gib=0.25")
MODEL_FILES = ("config.json", "tokenizer.json")


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
    # Every validator a provider: its own sidecar (base+10i+5) and agent (status on +6).
    providers: bool = True
    # "shared": one vLLM engine process (base+7) behind every node's sidecar;
    # "dedicated": each node's sidecar runs its own (4-5 GiB of memory per node);
    # "none": the sidecars race and serve no inference (Race tests and benches).
    inference_engine: str = "shared"
    # a folder name under the models directory ($RACE_MODELS_DIR or .cache/models), or a path
    model: str = DEFAULT_MODEL
    model_settings: str = LEAN_MODEL_SETTINGS
    # the Race config the sidecars are provisioned for (race_protocol.race.config)
    race_config: str = "small"
    # genesis module params: module -> {key: value} (checked by race_node.node.genesis_params)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every validator's app takes a state-sync snapshot every N heights (0: none) and
    # keeps the newest snapshot_keep, so a full node can join by state sync
    # (Localnet.add_node).
    snapshot_interval: int = 0
    snapshot_keep: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.validators <= 64:
            raise LocalnetSpecError(f"validators must be between 1 and 64, got {self.validators}")
        last_port = self.base_port + PORTS_PER_NODE * self.validators
        if self.base_port < 1024 or last_port > 65535:
            raise LocalnetSpecError(
                f"ports {self.base_port}..{last_port} do not fit in 1024..65535; "
                "choose another --base-port"
            )
        if self.snapshot_interval < 0 or self.snapshot_keep < 1:
            raise LocalnetSpecError("snapshot_interval must be >= 0 (0: no snapshots) and "
                                    "snapshot_keep >= 1")
        if self.validator_balance_nicoin < 0 or self.validator_power <= 0:
            raise LocalnetSpecError("balances must be >= 0 and validator power > 0")
        if not self.chain_id or len(self.chain_id) > 50:
            raise LocalnetSpecError("chain_id must be 1-50 characters")
        if not isinstance(self.params, dict) or not all(
                isinstance(table, dict) for table in self.params.values()):
            raise LocalnetSpecError("params must be tables of key = value per module, "
                                    "e.g. [params.epochs] epoch_length_blocks = 20")
        if self.inference_engine not in INFERENCE_ENGINES:
            raise LocalnetSpecError(f"inference_engine must be one of "
                                    f"{', '.join(INFERENCE_ENGINES)}, got "
                                    f"{self.inference_engine!r}")
        if self.race_config not in NAMED_CONFIGS:
            raise LocalnetSpecError(f"race_config must be one of {', '.join(NAMED_CONFIGS)}, "
                                    f"got {self.race_config!r}")
        if not self.model or "," in self.model or any(c.isspace() for c in self.model):
            raise LocalnetSpecError(f"model {self.model!r} must be a folder name or path "
                                    "without spaces or commas")

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

    def sidecar_port(self, index: int) -> int:
        return self.base_port + PORTS_PER_NODE * index + SIDECAR_OFFSET

    def agent_status_port(self, index: int) -> int:
        return self.base_port + PORTS_PER_NODE * index + AGENT_STATUS_OFFSET

    def engine_port(self) -> int:
        return self.base_port + ENGINE_OFFSET

    def model_path(self) -> Path:
        """The served model's folder: ``model`` itself when it is a path, else a folder of
        the models directory (``$RACE_MODELS_DIR`` or the checkout's ``.cache/models``)."""
        if "/" in self.model:
            return Path(self.model).expanduser().resolve()
        models_dir = os.environ.get("RACE_MODELS_DIR") or str(REPO_ROOT / ".cache" / "models")
        return Path(models_dir) / self.model

    def model_option(self) -> str:
        """The sidecar's ``--model NAME=PATH,settings``; refuses a folder that is not a model.

        Checked when the localnet is created, so a missing model is reported before any
        process starts rather than as a sidecar that never becomes healthy.
        """
        path = self.model_path()
        missing = [name for name in MODEL_FILES if not (path / name).is_file()]
        if missing:
            raise LocalnetSpecError(
                f"model {self.model!r}: {path} is not a converted model (no "
                f"{', '.join(missing)}); run `make setup`, or create the localnet with "
                "--no-providers")
        settings = f",{self.model_settings}" if self.model_settings else ""
        return f"{path.name}={path}{settings}"

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
