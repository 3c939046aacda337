"""The RaceEngine gRPC service on a real sidecar server (loopback): start and stream a
race, stop at the deadline, fetch results, validate, and clear errors for bad input."""

from __future__ import annotations

import time
from typing import Any

import grpc
import numpy as np
import pytest

from gpu_sidecar.race.engine import RaceEngine, scale_distances
from gpu_sidecar.race.service import MAX_VALIDATION_NONCES, config_to_proto
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import node_seed

from .conftest import NODE_KEY, OTHER_NODE_KEY, RACE_SEED


def start_request(config: RaceConfig, seconds: float, **overrides: Any) -> pb.StartRaceRequest:
    fields: dict[str, Any] = {
        "race_seed": RACE_SEED,
        "node_public_key": NODE_KEY,
        "config": config_to_proto(config),
        "deadline_unix_ms": int((time.time() + seconds) * 1000),
        "batch_size": 256,
        "progress_interval_ms": 100,
    }
    fields.update(overrides)
    return pb.StartRaceRequest(**fields)


async def collect(stub: Any, request: pb.StartRaceRequest) -> list[pb.RaceEvent]:
    return [event async for event in stub.StartRace(request)]


async def test_race_streams_hits_and_stops_at_the_deadline(
    race_stub: Any, engine: RaceEngine, small_config: RaceConfig
) -> None:
    request = start_request(small_config, seconds=3.0)
    events = await collect(race_stub, request)
    finished_at = time.time()
    kinds = [event.WhichOneof("event") for event in events]
    hits = [event.hit for event in events if event.HasField("hit")]
    final = events[-1].finished
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert "progress" in kinds
    assert final.stopped_reason == "deadline"
    assert finished_at * 1000 < request.deadline_unix_ms + 2000
    assert [h.nonce for h in hits] == [h.nonce for h in final.hits]
    assert len(hits) > 0 and final.nonces_checked >= 256
    recomputed = engine.recompute(small_config, RACE_SEED, node_seed(NODE_KEY),
                                  [h.nonce for h in hits])
    assert scale_distances(recomputed) == [h.distance_scaled for h in hits]

    race_id = events[0].started.race_id
    result = await race_stub.GetRaceResult(pb.GetRaceResultRequest(race_id=race_id))
    assert result.finished and [h.nonce for h in result.hits] == [h.nonce for h in hits]


async def test_validate_accepts_honest_hits_and_rejects_them_for_another_node(
    race_stub: Any, small_config: RaceConfig, scanned_distances: np.ndarray
) -> None:
    scaled = np.asarray(scale_distances(scanned_distances))
    proofs = np.nonzero(scaled < small_config.threshold_scaled)[0][:100].tolist()
    honest = await race_stub.ValidateNonces(pb.ValidateNoncesRequest(
        race_seed=RACE_SEED, node_public_key=NODE_KEY, config=config_to_proto(small_config),
        nonces=proofs, batch_size=32))
    other = await race_stub.ValidateNonces(pb.ValidateNoncesRequest(
        race_seed=RACE_SEED, node_public_key=OTHER_NODE_KEY,
        config=config_to_proto(small_config), nonces=proofs))
    assert honest.accepted, honest.reason
    assert honest.qualifying == len(proofs) and len(honest.checks) == len(proofs)
    assert not other.accepted and other.failing > 0


async def test_stop_race_and_one_race_at_a_time(
    race_stub: Any, small_config: RaceConfig
) -> None:
    request = start_request(small_config, seconds=60.0, race_id="long race")
    stream = race_stub.StartRace(request)
    first = await stream.read()
    assert first.started.race_id == "long race"
    with pytest.raises(grpc.aio.AioRpcError) as second:
        await collect(race_stub, start_request(small_config, seconds=5.0, race_id="second"))
    stopped = await race_stub.StopRace(pb.StopRaceRequest(race_id="long race"))
    assert second.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stopped.finished and stopped.stopped_reason == "stopped"
    stream.cancel()


async def test_info_reports_device_and_speed(race_stub: Any) -> None:
    info = await race_stub.GetRaceEngineInfo(pb.GetRaceEngineInfoRequest())
    assert info.device == "cpu" and info.dtype == "float32"
    assert info.auto_batch_size >= 1 and info.torch_version


def bad_config(config: RaceConfig) -> pb.RaceConfig:
    message = config_to_proto(config)
    message.n_heads = 7  # does not divide d_model 64
    return message


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong config", "n_heads must be positive and divide d_model"),
        ("no threshold", "threshold_scaled must be positive"),
        ("empty seed", "race seed is empty"),
        ("empty key", "node public key is empty"),
        ("past deadline", "deadline_unix_ms is missing or already past"),
    ],
)
async def test_bad_race_requests_are_invalid_argument(
    race_stub: Any, small_config: RaceConfig, case: str, expected: str
) -> None:
    request = start_request(small_config, seconds=5.0)
    if case == "wrong config":
        request.config.CopyFrom(bad_config(small_config))
    elif case == "no threshold":
        request.config.threshold_scaled = 0
    elif case == "empty seed":
        request.race_seed = b""
    elif case == "empty key":
        request.node_public_key = b""
    else:
        request.deadline_unix_ms = int((time.time() - 1) * 1000)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await collect(race_stub, request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (error.value.details() or "")


@pytest.mark.parametrize(
    ("nonces", "expected"),
    [
        (list(range(MAX_VALIDATION_NONCES + 1)), "exceed the limit"),
        ([], "no nonces to validate"),
        ([5, 6, 5], "duplicate nonces"),
    ],
)
async def test_bad_validation_requests_are_invalid_argument(
    race_stub: Any, small_config: RaceConfig, nonces: list[int], expected: str
) -> None:
    request = pb.ValidateNoncesRequest(race_seed=RACE_SEED, node_public_key=NODE_KEY,
                                       config=config_to_proto(small_config), nonces=nonces)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await race_stub.ValidateNonces(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (error.value.details() or "")


async def test_validation_with_a_wrong_config_is_invalid_argument(
    race_stub: Any, small_config: RaceConfig
) -> None:
    request = pb.ValidateNoncesRequest(race_seed=RACE_SEED, node_public_key=NODE_KEY,
                                       config=bad_config(small_config), nonces=[1])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await race_stub.ValidateNonces(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unknown_race_is_not_found(race_stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await race_stub.GetRaceResult(pb.GetRaceResultRequest(race_id="nope"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
