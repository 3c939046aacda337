"""Fixtures for the Race engine tests: one CPU engine, small configs, a served sidecar.

Tests run the small config (same structure as the paper's, ~1/3000 of the work per
nonce) so the package stays within its time budget on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from gpu_sidecar.race.engine import RaceEngine
from race_protocol.race.config import SMALL_CONFIG, RaceConfig, gaussian_threshold_scaled
from race_protocol.race.seeds import node_seed

# One intra-op thread: on a shared 2-core machine OpenMP barriers under contention cost
# more than the second core gains for these small matrices.
torch.set_num_threads(1)

RACE_SEED = b"race seed for tests"
NODE_KEY = b"\x01" * 32
OTHER_NODE_KEY = b"\x02" * 32
SCAN_NONCES = 20_000


@pytest.fixture(scope="session")
def engine() -> RaceEngine:
    return RaceEngine(device="cpu", dtype="float32", compile_forward=False)


@pytest.fixture(scope="session")
def small_config() -> RaceConfig:
    return SMALL_CONFIG


@pytest.fixture(scope="session")
def dense_config() -> RaceConfig:
    """SMALL_CONFIG with 1 hit in 4 nonces: many honest proofs per second of CPU."""
    return replace(SMALL_CONFIG, hit_rate_denominator=4,
                   threshold_scaled=gaussian_threshold_scaled(SMALL_CONFIG.d_model, 4))


@pytest.fixture(scope="session")
def scanned_distances(engine: RaceEngine, small_config: RaceConfig) -> np.ndarray:
    """Distances (float32) of nonces 0..SCAN_NONCES-1 for (RACE_SEED, NODE_KEY)."""
    return engine.recompute(small_config, RACE_SEED, node_seed(NODE_KEY),
                            range(SCAN_NONCES), batch_size=512)


@pytest.fixture
async def race_stub(engine: RaceEngine) -> AsyncIterator[object]:
    """A real sidecar gRPC server on a free loopback port hosting only the RaceEngine."""
    import grpc

    from gpu_sidecar.race.service import race_engine_registration
    from gpu_sidecar.server import SidecarServer
    from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

    server = SidecarServer(address="127.0.0.1:0",
                           registrations=[race_engine_registration(engine=engine)])
    port = await server.start()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.max_send_message_length", 64 << 20),
                 ("grpc.max_receive_message_length", 64 << 20)])
    try:
        yield pb_grpc.RaceEngineStub(channel)
    finally:
        await channel.close()
        await server.stop(0)
