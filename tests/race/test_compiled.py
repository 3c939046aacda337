"""The GPU path's torch.compile forward, exercised on the CPU: same distances as eager,
and a second race of the same shape reuses the compiled code."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from gpu_sidecar.race.engine import RaceEngine
from race_protocol.race.config import RaceConfig
from race_protocol.race.seeds import node_seed

from .conftest import NODE_KEY, RACE_SEED

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("cc") is None,
                                reason="torch.compile on the CPU needs a C++ compiler")


def test_compiled_forward_matches_eager_and_is_reused_across_races(
    engine: RaceEngine, small_config: RaceConfig
) -> None:
    import torch._dynamo

    compiled = RaceEngine(device="cpu", dtype="float32", compile_forward=True)
    seed = node_seed(NODE_KEY)
    eager = engine.recompute(small_config, RACE_SEED, seed, range(200), batch_size=128)
    first = compiled.recompute(small_config, RACE_SEED, seed, range(200), batch_size=128)
    counters_before = dict(torch._dynamo.utils.counters["stats"])
    compiled.recompute(small_config, RACE_SEED + b"next", seed, range(200), batch_size=128)
    counters_after = dict(torch._dynamo.utils.counters["stats"])
    assert np.max(np.abs(first - eager)) < small_config.tolerance / 10
    assert counters_before.get("unique_graphs", 0) >= 2  # the layer and the head
    assert counters_after.get("unique_graphs") == counters_before.get("unique_graphs")
