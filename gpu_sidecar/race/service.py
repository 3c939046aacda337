"""The RaceEngine gRPC service (proto/race/v1/sidecar.proto), hosted by the sidecar server.

Whitepaper Appendix A over the wire: the node agent starts a Race and receives qualifying
nonces as they are found (to submit before the deadline), and asks for other nodes'
nonces to be recomputed and judged. Every bad request is answered with INVALID_ARGUMENT
(or NOT_FOUND / FAILED_PRECONDITION) and a message saying what is wrong; nothing runs.

The sidecar CLI hosts it with::

    SidecarServer(registrations=[race_engine_registration(device="cuda", dtype="bfloat16")])
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import torch

from gpu_sidecar.race.engine import (
    RaceEngine,
    RaceHit,
    RaceProgress,
    auto_batch_size,
    dtype_name,
    scale_distances,
)
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc
from race_protocol.race.config import PAPER_CONFIG, InvalidRaceConfig, RaceConfig
from race_protocol.race.seeds import InvalidSeed, check_race_seed, node_seed
from race_protocol.race.validation import DEFAULT_ALPHA, NonceStatus, judge

MAX_VALIDATION_NONCES = 100_000
MAX_BATCH_SIZE = 65_536
MAX_RACE_SECONDS = 24 * 3600
KEPT_RACES = 16
DEFAULT_PROGRESS_INTERVAL_MS = 1000

_STATUS = {
    NonceStatus.QUALIFIES: pb.NONCE_STATUS_QUALIFIES,
    NonceStatus.WITHIN_TOLERANCE: pb.NONCE_STATUS_WITHIN_TOLERANCE,
    NonceStatus.FAILS: pb.NONCE_STATUS_FAILS,
}


class BadRequest(ValueError):
    """A request the service refuses before doing any work (INVALID_ARGUMENT)."""


def config_from_proto(message: pb.RaceConfig) -> RaceConfig:
    """RaceConfig from the wire: 0 means the paper default, except the threshold."""
    defaults = PAPER_CONFIG
    config = RaceConfig(
        n_layers=message.n_layers or defaults.n_layers,
        n_heads=message.n_heads or defaults.n_heads,
        d_model=message.d_model or defaults.d_model,
        vocab_size=message.vocab_size or defaults.vocab_size,
        ffn_hidden=message.ffn_hidden or defaults.ffn_hidden,
        seq_len=message.seq_len or defaults.seq_len,
        hit_rate_denominator=message.hit_rate_denominator or defaults.hit_rate_denominator,
        threshold_scaled=message.threshold_scaled,
        tolerance_scaled=message.tolerance_scaled,
        honest_mismatch_ppm=message.honest_mismatch_ppm,
    )
    try:
        config.validate()
    except InvalidRaceConfig as error:
        raise BadRequest(f"invalid race config: {error}") from error
    return config


def config_to_proto(config: RaceConfig) -> pb.RaceConfig:
    return pb.RaceConfig(**config.to_dict())


def default_race_id(race_seed: bytes, node_public_key: bytes) -> str:
    return hashlib.sha256(race_seed + node_public_key).hexdigest()[:16]


def _seeds(race_seed: bytes, node_public_key: bytes) -> bytes:
    try:
        check_race_seed(race_seed)
        return node_seed(node_public_key)
    except InvalidSeed as error:
        raise BadRequest(str(error)) from error


def _batch_size(requested: int) -> int:
    if requested > MAX_BATCH_SIZE:
        raise BadRequest(f"batch_size {requested} exceeds {MAX_BATCH_SIZE}")
    return requested


@dataclass
class RaceRun:
    """A race this engine is running or has run."""

    race_id: str
    progress: RaceProgress
    stop: threading.Event = field(default_factory=threading.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""

    def result(self) -> pb.RaceResult:
        progress = self.progress
        reason = f"error: {self.error}" if self.error else progress.stopped_reason
        return pb.RaceResult(
            race_id=self.race_id,
            finished=progress.finished or bool(self.error),
            stopped_reason=reason,
            nonces_checked=progress.nonces_checked,
            hits=[pb.RaceHit(nonce=h.nonce, distance_scaled=h.distance_scaled)
                  for h in list(progress.hits)],
            nonces_per_s=progress.nonces_per_s,
            elapsed_s=progress.elapsed_s,
            next_nonce=progress.next_nonce,
        )


class RaceEngineServicer(pb_grpc.RaceEngineServicer):
    """gRPC face of one RaceEngine: at most one race at a time, validations alongside."""

    def __init__(self, engine: RaceEngine) -> None:
        self.engine = engine
        self.races: dict[str, RaceRun] = {}
        self.running: RaceRun | None = None

    async def StartRace(  # noqa: N802 (gRPC method name)
        self, request: pb.StartRaceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RaceEvent]:
        try:
            config = config_from_proto(request.config)
            seed_of_node = _seeds(request.race_seed, request.node_public_key)
            batch_size = _batch_size(request.batch_size)
            seconds_left = request.deadline_unix_ms / 1000.0 - time.time()
            if request.deadline_unix_ms == 0 or seconds_left <= 0:
                raise BadRequest("deadline_unix_ms is missing or already past")
            if seconds_left > MAX_RACE_SECONDS:
                raise BadRequest(f"deadline is more than {MAX_RACE_SECONDS} s away")
        except BadRequest as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if self.running is not None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"race {self.running.race_id} is still running; stop it first")
        deadline = time.monotonic() + seconds_left
        race_id = request.race_id or default_race_id(request.race_seed, request.node_public_key)
        run = RaceRun(race_id, RaceProgress(next_nonce=request.start_nonce))
        self.races[race_id] = run
        self.running = run
        for old in list(self.races)[:-KEPT_RACES]:
            del self.races[old]
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[pb.RaceEvent | None] = asyncio.Queue()
        interval = (request.progress_interval_ms or DEFAULT_PROGRESS_INTERVAL_MS) / 1000.0
        last_progress = [0.0]

        def emit(event: pb.RaceEvent | None) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def on_hit(hit: RaceHit) -> None:
            emit(pb.RaceEvent(hit=pb.RaceHit(nonce=hit.nonce,
                                             distance_scaled=hit.distance_scaled)))

        def on_batch(progress: RaceProgress) -> None:
            run.progress = progress
            now = time.monotonic()
            if now - last_progress[0] >= interval:
                last_progress[0] = now
                emit(pb.RaceEvent(progress=pb.RaceProgress(
                    nonces_checked=progress.nonces_checked, hits=len(progress.hits),
                    nonces_per_s=progress.nonces_per_s, next_nonce=progress.next_nonce)))

        def race() -> None:
            try:
                started = time.perf_counter()
                self.engine.model(config, request.race_seed)
                emit(pb.RaceEvent(started=pb.RaceStarted(
                    race_id=race_id,
                    batch_size=self.engine.batch_size_for(config, batch_size),
                    device=str(self.engine.device), dtype=dtype_name(self.engine.dtype),
                    weight_init_s=time.perf_counter() - started)))
                run.progress = self.engine.run_race(
                    config, request.race_seed, seed_of_node, deadline,
                    start_nonce=request.start_nonce, batch_size=batch_size,
                    on_hit=on_hit, on_batch=on_batch, stop=run.stop)
            except Exception as error:  # reported to the client, never swallowed
                run.error = f"{type(error).__name__}: {error}"
            finally:
                emit(None)

        task = loop.run_in_executor(None, race)
        task.add_done_callback(lambda _: self._finish(run))
        while True:
            event = await events.get()
            if event is None:
                break
            yield event
        await task
        if run.error:
            await context.abort(grpc.StatusCode.INTERNAL, f"race failed: {run.error}")
        yield pb.RaceEvent(finished=run.result())

    def _finish(self, run: RaceRun) -> None:
        if self.running is run:
            self.running = None
        run.done.set()

    async def _race(self, race_id: str, context: grpc.aio.ServicerContext) -> RaceRun:
        run = self.races.get(race_id)
        if run is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no race {race_id!r}")
            raise AssertionError("abort raises")
        return run

    async def GetRaceResult(  # noqa: N802
        self, request: pb.GetRaceResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.RaceResult:
        run = await self._race(request.race_id, context)
        return run.result()

    async def StopRace(  # noqa: N802
        self, request: pb.StopRaceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RaceResult:
        run = await self._race(request.race_id, context)
        run.stop.set()
        await run.done.wait()
        return run.result()

    async def ValidateNonces(  # noqa: N802
        self, request: pb.ValidateNoncesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateNoncesResponse:
        try:
            config = config_from_proto(request.config)
            seed_of_node = _seeds(request.race_seed, request.node_public_key)
            batch_size = _batch_size(request.batch_size)
            nonces = list(request.nonces)
            if not nonces:
                raise BadRequest("no nonces to validate")
            if len(nonces) > MAX_VALIDATION_NONCES:
                raise BadRequest(f"{len(nonces)} nonces exceed the limit of "
                                 f"{MAX_VALIDATION_NONCES} per request; validate a sample")
            if len(set(nonces)) != len(nonces):
                raise BadRequest("duplicate nonces (each nonce is one proof)")
            if not 0 <= request.alpha < 1:
                raise BadRequest("alpha must be in [0, 1)")
        except BadRequest as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        started = time.perf_counter()
        distances = await asyncio.to_thread(
            self.engine.recompute, config, request.race_seed, seed_of_node, nonces, batch_size)
        verdict = judge(config, nonces, scale_distances(distances),
                        alpha=request.alpha or DEFAULT_ALPHA)
        return pb.ValidateNoncesResponse(
            accepted=verdict.accepted,
            reason=verdict.reason,
            qualifying=verdict.qualifying,
            within_tolerance=verdict.within_tolerance,
            failing=verdict.failing,
            p_value=verdict.p_value,
            checks=[pb.NonceCheck(nonce=v.nonce, distance_scaled=v.distance_scaled,
                                  status=_STATUS[v.status]) for v in verdict.nonces],
            seconds=time.perf_counter() - started,
        )

    async def GetRaceEngineInfo(  # noqa: N802
        self, request: pb.GetRaceEngineInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.RaceEngineInfo:
        engine = self.engine
        return pb.RaceEngineInfo(
            device=str(engine.device),
            dtype=dtype_name(engine.dtype),
            torch_version=torch.__version__,
            auto_batch_size=auto_batch_size(PAPER_CONFIG, engine.device, engine.dtype),
            last_nonces_per_s=engine.last_nonces_per_s,
            running_race_id=self.running.race_id if self.running else "",
            compiled=engine.compile_forward,
        )


def race_engine_registration(
    device: str | None = None,
    dtype: str | None = None,
    compile_forward: bool | None = None,
    engine: RaceEngine | None = None,
) -> Callable[[grpc.aio.Server], None]:
    """Build the Race engine and return the callable that registers it on a sidecar server.

    ``device``: "cuda", "cuda:N", "cpu" or None (CUDA when present). ``dtype``: "float32",
    "bfloat16", "float16" or None (bf16 on GPU, fp32 on CPU). ``compile_forward``: None
    compiles on CUDA only. Raises RaceEngineError for an unusable device or dtype.
    """
    servicer = RaceEngineServicer(engine or RaceEngine(device, dtype, compile_forward))

    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_RaceEngineServicer_to_server(servicer, server)

    return register
