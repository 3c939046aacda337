"""Threshold calibration tool (whitepaper Appendix A: "The distance threshold is constant
and is chosen such that the chance of finding an Appropriate Vector from one nonce is about
1 in 900 and can be used to control difficulty").

Runs the work function over many nonces under several (race seed, node key) pairs, reports
the empirical distance quantile at the target hit rate with a 95% confidence interval,
the closed-form threshold it should match, and, with ``--cross-dtype``, the noise between two
dtypes from which the validation tolerance and honest mismatch rate are chosen.

    python -m gpu_sidecar.race.calibrate --config small --nonces 50000
    python -m gpu_sidecar.race.calibrate --config paper --layers 2 --hit-rate 900 \
        --nonces 45000 --cross-dtype bfloat16

Prints one JSON object. Thresholds and tolerances are integers scaled by 10**6.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace

import numpy as np

from gpu_sidecar.race.engine import RaceEngine, dtype_name, resolve_dtype
from race_protocol.race.config import (
    DISTANCE_SCALE,
    NAMED_CONFIGS,
    RaceConfig,
    gaussian_threshold_scaled,
)
from race_protocol.race.seeds import node_seed


def quantile_interval(sorted_values: np.ndarray, p: float) -> tuple[float, float, float]:
    """Empirical p-quantile and a 95% distribution-free interval from order statistics."""
    n = len(sorted_values)
    centre = p * n
    spread = 1.96 * math.sqrt(n * p * (1 - p))
    lo = max(0, math.floor(centre - spread))
    hi = min(n - 1, math.ceil(centre + spread))
    mid = min(n - 1, max(0, round(centre)))
    return float(sorted_values[lo]), float(sorted_values[mid]), float(sorted_values[hi])


def calibrate(config: RaceConfig, nonces: int, seeds: int, device: str | None,
              dtype: str | None, cross_dtype: str | None, batch_size: int = 0) -> dict[str, object]:
    """Measure the distance distribution of ``config`` and derive its acceptance parameters."""
    engine = RaceEngine(device=device, dtype=dtype)
    per_seed = max(1, nonces // seeds)
    distances: list[np.ndarray] = []
    cross: list[tuple[np.ndarray, np.ndarray]] = []
    hit_p = 1.0 / config.hit_rate_denominator
    started = time.perf_counter()
    for index in range(seeds):
        race_seed = f"calibration race {index}".encode()
        seed_of_node = node_seed(f"calibration node {index}".encode())
        batch = engine.recompute(config, race_seed, seed_of_node, range(per_seed), batch_size)
        distances.append(batch)
        if cross_dtype:
            # The nonces that matter for validation: hits and near misses.
            near = np.nonzero(batch < np.quantile(batch, min(1.0, 4 * hit_p)))[0]
            other = engine.recompute(config, race_seed, seed_of_node, near.tolist(), batch_size,
                                     dtype=resolve_dtype(cross_dtype, engine.device))
            cross.append((batch[near], other))
    elapsed = time.perf_counter() - started
    every = np.sort(np.concatenate(distances))
    lo, mid, hi = quantile_interval(every, hit_p)
    derived = gaussian_threshold_scaled(config.d_model, config.hit_rate_denominator)
    current = config.threshold_scaled or derived
    hits = int(np.sum(np.rint(every.astype(np.float64) * DISTANCE_SCALE) < current))
    report: dict[str, object] = {
        "config": config.to_dict(),
        "device": str(engine.device),
        "dtype": dtype_name(engine.dtype),
        "nonces": int(len(every)),
        "seconds": round(elapsed, 3),
        "distance_mean": float(every.mean()),
        "distance_std": float(every.std()),
        "derived_threshold_scaled": derived,
        "empirical_threshold_scaled": round(mid * DISTANCE_SCALE),
        "empirical_threshold_ci95_scaled": [round(lo * DISTANCE_SCALE), round(hi * DISTANCE_SCALE)],
        "hit_rate_at_threshold": hits / len(every),
        "hit_rate_target": hit_p,
        "hits_at_threshold": hits,
    }
    if cross:
        first = np.concatenate([a for a, _ in cross]).astype(np.float64)
        second = np.concatenate([b for _, b in cross]).astype(np.float64)
        noise = np.abs(first - second)
        threshold = current / DISTANCE_SCALE
        found = first < threshold
        mismatched = found & (second >= threshold)
        report["cross_dtype"] = {
            "dtype": cross_dtype,
            "compared": int(len(noise)),
            "noise_max": float(noise.max()),
            "noise_mean": float(noise.mean()),
            "noise_p9999": float(np.quantile(noise, 0.9999)),
            "hits_compared": int(found.sum()),
            "hits_above_threshold_in_other_dtype": int(mismatched.sum()),
            "honest_mismatch_rate": float(mismatched.sum() / max(1, found.sum())),
            "suggested_tolerance_scaled": math.ceil(8 * float(noise.max()) * DISTANCE_SCALE),
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(NAMED_CONFIGS), default="small")
    parser.add_argument("--layers", type=int, help="override n_layers (shallower, same width)")
    parser.add_argument("--hit-rate", type=int, help="target 1 in N (default: the config's)")
    parser.add_argument("--nonces", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=5, help="race seed / node key pairs")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--cross-dtype", default=None, help="measure noise against this dtype")
    parser.add_argument("--batch-size", type=int, default=0)
    args = parser.parse_args(argv)
    config = NAMED_CONFIGS[args.config]
    if args.layers:
        config = replace(config, n_layers=args.layers)
    if args.hit_rate:
        config = replace(config, hit_rate_denominator=args.hit_rate,
                         threshold_scaled=gaussian_threshold_scaled(config.d_model, args.hit_rate))
    config.validate()
    report = calibrate(config, args.nonces, args.seeds, args.device, args.dtype,
                       args.cross_dtype, args.batch_size)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
