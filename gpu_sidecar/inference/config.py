"""Which models a sidecar serves, and each model's limits and replay threshold.

A model is named on the command line as ``NAME=PATH[,key=value...]`` (keys are the
fields of :class:`ModelSpec`), or in a JSON file holding a list of such objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from gpu_sidecar.inference.prepare_models import (
    DEFAULT_MODEL_NAME,
    default_models_dir,
    is_complete,
)

DEFAULT_TOP_LOGPROBS = 5
MAX_TOP_LOGPROBS = 20
MAX_STOP_SEQUENCES = 4
MAX_CHOICES = 8


class ModelConfigError(ValueError):
    """A model specification that cannot be served."""


@dataclass(frozen=True)
class ModelSpec:
    """One served model: where it is, how it runs and what a request may ask of it.

    ``replay_min_similarity`` and ``replay_max_position_distance`` are the replay
    check's per-model acceptance thresholds (docs/inference.md, "Calibration").
    """

    name: str
    path: Path
    dtype: str = "float32"
    max_model_len: int = 2048
    max_prompt_tokens: int = 1536
    max_output_tokens: int = 512
    max_num_seqs: int = 16
    max_queued_requests: int = 64
    default_top_logprobs: int = DEFAULT_TOP_LOGPROBS
    replay_top_logprobs: int = MAX_TOP_LOGPROBS
    replay_min_similarity: float = 0.99
    replay_max_position_distance: float = 0.25
    replay_greedy_tolerance: float = 0.05
    replay_min_token_logprob: float = -25.0
    kv_cache_gib: float = 1.0
    enforce_eager: bool | None = None
    seed: int = 0

    def validate(self) -> ModelSpec:
        """Check the spec is servable; returns it unchanged."""
        if not self.name or any(c.isspace() for c in self.name):
            raise ModelConfigError(f"model name {self.name!r} must be non-empty without spaces")
        if not is_complete(self.path):
            raise ModelConfigError(
                f"model {self.name!r}: {self.path} is not a model folder "
                "(config.json, model.safetensors, tokenizer.json); run `make setup`"
            )
        if self.dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise ModelConfigError(f"model {self.name!r}: unsupported dtype {self.dtype!r}")
        if self.max_prompt_tokens < 1 or self.max_output_tokens < 1:
            raise ModelConfigError(f"model {self.name!r}: token limits must be >= 1")
        if self.max_prompt_tokens + self.max_output_tokens > self.max_model_len:
            raise ModelConfigError(
                f"model {self.name!r}: max_prompt_tokens + max_output_tokens "
                f"({self.max_prompt_tokens} + {self.max_output_tokens}) exceeds "
                f"max_model_len {self.max_model_len}"
            )
        if not 1 <= self.default_top_logprobs <= MAX_TOP_LOGPROBS:
            raise ModelConfigError(
                f"model {self.name!r}: default_top_logprobs must be in 1..{MAX_TOP_LOGPROBS}"
            )
        if self.max_queued_requests < 1 or self.max_num_seqs < 1:
            raise ModelConfigError(f"model {self.name!r}: queue limits must be >= 1")
        if not 0.0 < self.replay_min_similarity <= 1.0:
            raise ModelConfigError(f"model {self.name!r}: replay_min_similarity must be in (0, 1]")
        return self


def _coerce(name: str, raw: Any) -> Any:
    kinds = {f.name: f.type for f in fields(ModelSpec)}
    if name not in kinds:
        raise ModelConfigError(f"unknown model setting {name!r}; known: {', '.join(kinds)}")
    kind = str(kinds[name])
    try:
        if name == "path":
            return Path(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(f"model setting {name}={raw!r}: {exc}") from exc
    return str(raw)


def spec_from_mapping(values: dict[str, Any]) -> ModelSpec:
    """A validated spec from a mapping with at least ``name`` and ``path``."""
    if "name" not in values or "path" not in values:
        raise ModelConfigError(f"a model needs a name and a path, got {sorted(values)}")
    coerced = {key: _coerce(key, value) for key, value in values.items()}
    return ModelSpec(**coerced).validate()


def parse_model_option(option: str) -> ModelSpec:
    """Parse ``NAME=PATH[,key=value...]`` from the command line."""
    head, *settings = option.split(",")
    name, sep, path = head.partition("=")
    if not sep:
        raise ModelConfigError(f"--model {option!r}: expected NAME=PATH[,key=value...]")
    values: dict[str, Any] = {"name": name.strip(), "path": path.strip()}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise ModelConfigError(f"--model {option!r}: setting {setting!r} is not key=value")
        values[key.strip()] = value.strip()
    return spec_from_mapping(values)


def load_models_file(path: Path) -> list[ModelSpec]:
    """Specs from a JSON file holding a list of objects (each with name and path)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"cannot read models file {path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ModelConfigError(f"{path}: expected a JSON list of models")
    return [spec_from_mapping(entry) for entry in entries]


def default_model_spec(**overrides: Any) -> ModelSpec:
    """The default model, SmolLM2-135M-Instruct as converted by ``make setup``."""
    spec = ModelSpec(name=DEFAULT_MODEL_NAME, path=default_models_dir() / DEFAULT_MODEL_NAME)
    return replace(spec, **overrides).validate()


def check_unique(specs: list[ModelSpec]) -> list[ModelSpec]:
    """One sidecar serves each model name once."""
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ModelConfigError(f"model names served twice: {', '.join(duplicates)}")
    if not specs:
        raise ModelConfigError("no model to serve")
    return specs
