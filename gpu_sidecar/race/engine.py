"""The Race engine: builds the race model once per seed and runs nonces through it in batches.

* Whitepaper Appendix A, 2 (Iterations): nonces are tried in batches as large as the device
  allows; the next batch's inputs are hashed while the current one computes; qualifying
  nonces are reported as soon as their batch finishes; no batch starts after the deadline
  and no nonce from a batch that finished after it is reported.
* Appendix A, Validation: the same pipeline recomputes given nonces (any batch size, dtype).
* Whitepaper section 4, "The Task": user requests come first. With an
  :class:`~gpu_sidecar.race.priority.InferenceActivity`, no batch starts while an inference
  call is in flight on this sidecar; the wait is counted in ``RaceProgress.paused_s``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from gpu_sidecar.race.inputs import NonceKeys
from gpu_sidecar.race.model import NonceInputs, RaceTransformer, build_nonce_inputs
from gpu_sidecar.race.priority import InferenceActivity
from gpu_sidecar.race.torch_weights import torch_weights
from gpu_sidecar.race.weights import numpy_tensor, target_vector, weight_layout
from race_protocol.race.config import DISTANCE_SCALE, RaceConfig
from race_protocol.race.seeds import MAX_NONCE, check_race_seed

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MAX_CPU_BATCH = 256
MAX_GPU_BATCH = 16384
MODEL_CACHE_SIZE = 2


class RaceEngineError(RuntimeError):
    """The engine cannot do what was asked (bad device or dtype, a race already running)."""


def resolve_device(device: str | None) -> torch.device:
    """``None``/"auto": the first CUDA device if there is one, else the CPU."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RaceEngineError(f"device {device!r} requested but CUDA is not available")
    if resolved.type not in ("cpu", "cuda"):
        raise RaceEngineError(f"unsupported device {device!r} (cpu or cuda)")
    return resolved


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """``None``/"auto": bf16 on GPUs that support it (fp16 otherwise), fp32 on the CPU."""
    if dtype in (None, "", "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in DTYPES:
        raise RaceEngineError(f"unsupported dtype {dtype!r} (one of {sorted(DTYPES)})")
    if device.type == "cpu" and dtype == "float16":
        raise RaceEngineError("float16 is not supported on the CPU (use float32 or bfloat16)")
    return DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def bytes_per_nonce(config: RaceConfig, dtype: torch.dtype) -> int:
    """Peak activation memory of one nonce in a forward pass, with a 2x safety factor."""
    element = torch.tensor([], dtype=dtype).element_size()
    s, d, f = config.seq_len, config.d_model, config.ffn_hidden
    low_precision = s * (3 * d + 2 * f + 2 * d) * element
    full_precision = s * d * 4 * 4 + d * 8 * 4
    return 2 * (low_precision + full_precision)


def available_memory(device: torch.device) -> int:
    """Free bytes on the device (CUDA) or MemAvailable (CPU)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 30


def auto_batch_size(config: RaceConfig, device: torch.device, dtype: torch.dtype) -> int:
    """Largest power of two whose activations fit in half of the free memory (capped).

    On the CPU throughput stops growing long before memory runs out (bench/race.py sweeps
    it), so the cap is lower there.
    """
    cap = MAX_GPU_BATCH if device.type == "cuda" else MAX_CPU_BATCH
    fits = max(1, available_memory(device) // 2 // bytes_per_nonce(config, dtype))
    size = 1 << (min(fits, cap).bit_length() - 1)
    return max(1, size)


@dataclass(frozen=True)
class RaceHit:
    """A qualifying nonce (an Appropriate Vector) and its distance, scaled by 10**6."""

    nonce: int
    distance_scaled: int


@dataclass
class RaceProgress:
    """Where a running race stands."""

    nonces_checked: int = 0
    hits: list[RaceHit] = field(default_factory=list)
    started_at: float = 0.0
    elapsed_s: float = 0.0
    batch_size: int = 0
    next_nonce: int = 0
    finished: bool = False
    stopped_reason: str = ""
    # Seconds the race waited for user requests to finish (whitepaper section 4).
    paused_s: float = 0.0

    @property
    def nonces_per_s(self) -> float:
        return self.nonces_checked / self.elapsed_s if self.elapsed_s > 0 else 0.0


def scale_distances(distances: np.ndarray) -> list[int]:
    """Distances as on-chain integers: round(distance * 10**6) (float64 rounding, half-even)."""
    return [int(v) for v in np.rint(distances.astype(np.float64) * DISTANCE_SCALE)]


class RaceEngine:
    """Runs the Race and validations on one device; one model per (config, race seed) cached."""

    def __init__(self, device: str | None = None, dtype: str | None = None,
                 compile_forward: bool | None = None,
                 activity: InferenceActivity | None = None) -> None:
        self.device = resolve_device(device)
        # User requests on this sidecar, which a race waits for between batches.
        self.activity = activity
        self.dtype = resolve_dtype(dtype, self.device)
        self.compile_forward = (self.device.type == "cuda") if compile_forward is None \
            else compile_forward
        self._models: OrderedDict[tuple[tuple[int, ...], bytes, torch.dtype], RaceTransformer]
        self._models = OrderedDict()
        self._model_lock = threading.Lock()
        # One forward at a time on the device; a race releases it between batches so
        # validations interleave with a running race.
        self.device_lock = threading.Lock()
        self.last_nonces_per_s = 0.0
        self.last_weight_init_s = 0.0

    # -- model ------------------------------------------------------------------------
    def model(self, config: RaceConfig, race_seed: bytes,
              dtype: torch.dtype | None = None) -> RaceTransformer:
        """The race model for ``race_seed`` (Appendix A, Model initialization), cached."""
        check_race_seed(race_seed)
        config.validate()
        dtype = dtype or self.dtype
        key = (config.shape_key(), race_seed, dtype)
        with self._model_lock:
            cached = self._models.get(key)
            if cached is not None:
                self._models.move_to_end(key)
                return cached
            started = time.perf_counter()
            weights = self._weights(config, race_seed, dtype)
            target = torch.from_numpy(target_vector(config, race_seed)).to(self.device)
            model = RaceTransformer(config, weights, target, dtype,
                                    compile_forward=self.compile_forward)
            self.last_weight_init_s = time.perf_counter() - started
            self._models[key] = model
            while len(self._models) > MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
            return model

    def _weights(self, config: RaceConfig, race_seed: bytes,
                 dtype: torch.dtype) -> dict[str, torch.Tensor]:
        if self.device.type == "cuda":
            return torch_weights(config, race_seed, self.device, dtype)
        # numpy's integer kernels are faster than torch's on the CPU and release the GIL,
        # so the tensors are hashed on every core; the values are identical either way.
        specs = weight_layout(config)
        workers = max(1, min(len(specs), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            arrays = list(pool.map(lambda spec: numpy_tensor(race_seed, spec), specs))
        return {spec.name: torch.from_numpy(array).to(dtype)
                for spec, array in zip(specs, arrays, strict=True)}

    def batch_size_for(self, config: RaceConfig, requested: int = 0) -> int:
        return requested if requested > 0 else auto_batch_size(config, self.device, self.dtype)

    # -- nonces -----------------------------------------------------------------------
    def distances(self, model: RaceTransformer, keys: NonceKeys,
                  nonces: np.ndarray) -> np.ndarray:
        """float32 distances of ``nonces`` (one batch)."""
        inputs = build_nonce_inputs(model.config, keys, nonces, self.device)
        return self._run(model, inputs)

    def _run(self, model: RaceTransformer, inputs: NonceInputs) -> np.ndarray:
        with self.device_lock:
            return model.distances(inputs).cpu().numpy()

    def recompute(self, config: RaceConfig, race_seed: bytes, node_seed: bytes,
                  nonces: Sequence[int], batch_size: int = 0,
                  dtype: torch.dtype | None = None) -> np.ndarray:
        """Distances of the given nonces in batches of ``batch_size`` (validation, step 3)."""
        model = self.model(config, race_seed, dtype)
        keys = NonceKeys.derive(race_seed, node_seed)
        size = self.batch_size_for(config, batch_size)
        all_nonces = np.asarray(list(nonces), dtype=np.uint64)
        parts = []
        for i in range(0, len(all_nonces), size):
            chunk = all_nonces[i:i + size]
            if model.compiled and len(chunk) < size:
                # A compiled forward is specialised to its batch shape: pad, do not recompile.
                padded = np.concatenate([chunk, np.full(size - len(chunk), chunk[-1])])
                parts.append(self.distances(model, keys, padded)[:len(chunk)])
            else:
                parts.append(self.distances(model, keys, chunk))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def run_race(
        self,
        config: RaceConfig,
        race_seed: bytes,
        node_seed: bytes,
        deadline: float,
        start_nonce: int = 0,
        batch_size: int = 0,
        on_hit: Callable[[RaceHit], None] | None = None,
        on_batch: Callable[[RaceProgress], None] | None = None,
        stop: threading.Event | None = None,
        max_nonces: int | None = None,
    ) -> RaceProgress:
        """Try nonces from ``start_nonce`` until ``deadline`` (time.monotonic) and report hits.

        Input hashing for batch k+1 runs on a worker thread while batch k computes.
        """
        model = self.model(config, race_seed)
        keys = NonceKeys.derive(race_seed, node_seed)
        size = self.batch_size_for(config, batch_size)
        progress = RaceProgress(started_at=time.monotonic(), batch_size=size,
                                next_nonce=start_nonce)
        threshold = config.threshold_scaled
        batches = _nonce_batches(start_nonce, size, max_nonces)
        with ThreadPoolExecutor(max_workers=1) as builder:

            def prefetch() -> Future[NonceInputs] | None:
                nonces = next(batches, None)
                if nonces is None:
                    return None
                return builder.submit(build_nonce_inputs, config, keys, nonces, self.device)

            pending = prefetch()
            while pending is not None:
                if time.monotonic() >= deadline:
                    progress.stopped_reason = "deadline"
                    break
                if stop is not None and stop.is_set():
                    progress.stopped_reason = "stopped"
                    break
                if self.activity is not None:
                    progress.paused_s += self.activity.wait_until_idle(deadline, stop)
                    if time.monotonic() >= deadline:
                        progress.stopped_reason = "deadline"
                        break
                inputs = pending.result()
                pending = prefetch()
                distances = self._run(model, inputs)
                if time.monotonic() > deadline:
                    progress.stopped_reason = "deadline"
                    break
                scaled = scale_distances(distances)
                for nonce, distance in zip(inputs.nonces.tolist(), scaled, strict=True):
                    if distance < threshold:
                        hit = RaceHit(int(nonce), distance)
                        progress.hits.append(hit)
                        if on_hit is not None:
                            on_hit(hit)
                progress.nonces_checked += len(inputs.nonces)
                progress.next_nonce = int(inputs.nonces[-1]) + 1
                progress.elapsed_s = time.monotonic() - progress.started_at
                if on_batch is not None:
                    on_batch(progress)
            else:
                progress.stopped_reason = progress.stopped_reason or "nonce range exhausted"
            if pending is not None:
                pending.cancel()
        progress.elapsed_s = time.monotonic() - progress.started_at
        progress.finished = True
        self.last_nonces_per_s = progress.nonces_per_s
        return progress


def _nonce_batches(start: int, size: int, limit: int | None) -> Iterator[np.ndarray]:
    """Consecutive uint64 nonce ranges of ``size`` from ``start`` (at most ``limit`` nonces)."""
    end = MAX_NONCE + 1 if limit is None else min(MAX_NONCE + 1, start + limit)
    current = start
    while current < end:
        stop = min(current + size, end)
        yield np.arange(current, stop, dtype=np.uint64) if stop <= 1 << 63 else np.array(
            range(current, stop), dtype=np.uint64)
        current = stop
