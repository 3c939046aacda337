"""Engine behaviour: device/dtype choice, automatic batch size, deadline, calibration tool,
config checks, and the registration the sidecar server uses (with its bearer token)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import grpc
import pytest
import torch

from gpu_sidecar.race.calibrate import calibrate, main
from gpu_sidecar.race.engine import (
    MAX_CPU_BATCH,
    RaceEngine,
    RaceEngineError,
    auto_batch_size,
    resolve_dtype,
)
from race_protocol.race.config import (
    PAPER_CONFIG,
    InvalidRaceConfig,
    RaceConfig,
    gaussian_threshold_scaled,
)
from race_protocol.race.seeds import InvalidSeed, node_seed

from .conftest import NODE_KEY, RACE_SEED


def test_auto_batch_size_is_a_power_of_two_within_the_cpu_cap() -> None:
    size = auto_batch_size(PAPER_CONFIG, torch.device("cpu"), torch.float32)
    assert 1 <= size <= MAX_CPU_BATCH and size & (size - 1) == 0


def test_unusable_dtypes_and_devices_are_refused() -> None:
    with pytest.raises(RaceEngineError, match="float16 is not supported on the CPU"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(RaceEngineError, match="unsupported dtype"):
        resolve_dtype("int8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(RaceEngineError, match="CUDA is not available"):
            RaceEngine(device="cuda")


def test_cpu_defaults_to_float32() -> None:
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32


def test_race_stops_at_the_deadline_and_reports_only_hits(
    engine: RaceEngine, small_config: RaceConfig
) -> None:
    engine.model(small_config, RACE_SEED)
    streamed = []
    started = time.monotonic()
    progress = engine.run_race(small_config, RACE_SEED, node_seed(NODE_KEY),
                               deadline=started + 1.5, batch_size=128, on_hit=streamed.append)
    assert progress.stopped_reason == "deadline"
    assert time.monotonic() - started < 1.5 + 1.0
    assert progress.nonces_checked > 0 and progress.nonces_checked % 128 == 0
    assert streamed == progress.hits
    assert all(hit.distance_scaled < small_config.threshold_scaled for hit in streamed)


def test_race_from_a_start_nonce_covers_the_range(
    engine: RaceEngine, small_config: RaceConfig
) -> None:
    progress = engine.run_race(small_config, RACE_SEED, node_seed(NODE_KEY),
                               deadline=time.monotonic() + 60, start_nonce=2**64 - 300,
                               batch_size=128)
    assert progress.stopped_reason == "nonce range exhausted"
    assert progress.nonces_checked == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_heads": 5}, "divide d_model"),
        ({"n_layers": 0}, "n_layers"),
        ({"threshold_scaled": 0}, "threshold_scaled"),
        ({"d_model": 1 << 15}, "d_model"),
        ({"seq_len": 0}, "seq_len"),
    ],
)
def test_invalid_configs_are_refused(small_config: RaceConfig, change: dict[str, int],
                                     message: str) -> None:
    with pytest.raises(InvalidRaceConfig, match=message):
        replace(small_config, **change).validate()


def test_empty_seeds_are_refused(engine: RaceEngine, small_config: RaceConfig) -> None:
    with pytest.raises(InvalidSeed, match="race seed is empty"):
        engine.model(small_config, b"")
    with pytest.raises(InvalidSeed, match="public key is empty"):
        node_seed(b"")


def test_paper_config_counts_its_parameters_honestly() -> None:
    assert PAPER_CONFIG.parameter_count() == 608_176_128
    assert PAPER_CONFIG.flops_per_nonce() == 4_833_935_360


def test_calibration_measures_the_hit_rate_and_cross_dtype_noise(small_config: RaceConfig) -> None:
    report = calibrate(small_config, nonces=3000, seeds=2, device="cpu", dtype="float32",
                       cross_dtype="bfloat16", batch_size=500)
    expected = 3000 / small_config.hit_rate_denominator
    assert abs(report["hits_at_threshold"] - expected) < 5 * expected**0.5
    cross = report["cross_dtype"]
    assert 0 < cross["noise_max"] < small_config.tolerance
    assert report["derived_threshold_scaled"] == gaussian_threshold_scaled(64, 50)


def test_calibration_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--config", "small", "--nonces", "500", "--seeds", "1", "--hit-rate", "10"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["nonces"] == 500 and report["hit_rate_target"] == 0.1


async def test_registration_serves_behind_the_sidecar_token(engine: RaceEngine) -> None:
    from gpu_sidecar.race.service import race_engine_registration
    from gpu_sidecar.server import SidecarSecurity, SidecarServer
    from race_protocol.gen.race.v1 import sidecar_pb2 as pb
    from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

    server = SidecarServer(address="127.0.0.1:0", security=SidecarSecurity(token="s3cret"),
                           registrations=[race_engine_registration(engine=engine)])
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RaceEngineStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub.GetRaceEngineInfo(pb.GetRaceEngineInfoRequest())
            info = await stub.GetRaceEngineInfo(pb.GetRaceEngineInfoRequest(),
                                                metadata=[("authorization", "Bearer s3cret")])
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert info.device == "cpu"
    finally:
        await server.stop(0)
