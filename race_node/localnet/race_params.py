"""Genesis params that make a localnet's Race cycle short: about 30 blocks, some 25 seconds
at the localnet's ~0.8 s blocks (docs/race.md, "The cycle on a localnet"), racing for about
a quarter of it, so the sidecars' Race engines leave the shared CPU to everything else
most of the time.

A localnet's sidecars are provisioned for one work function (``race_config``: the small
one on a CPU), so the chain's work function params are that config's; the beacon's rounds
are a few blocks each, so a cycle waits little for its seed and its samples. Params given
in ``[params.*]`` or ``--param`` override these.
"""

from __future__ import annotations

from typing import Any

from race_protocol.race.config import NAMED_CONFIGS

LOCALNET_BEACON_WINDOWS = {"commit_window_blocks": 3, "reveal_window_blocks": 3,
                           "recovery_window_blocks": 3}
LOCALNET_RACE_WINDOWS = {"race_window_blocks": 8, "commit_window_blocks": 4,
                         "open_window_blocks": 4, "validation_window_blocks": 4,
                         "sample_size": 8}


def localnet_race_params(race_config: str) -> dict[str, dict[str, Any]]:
    """``{"beacon": ..., "race": ...}`` genesis params for sidecars running ``race_config``."""
    work_function = NAMED_CONFIGS[race_config].to_dict()
    return {"beacon": dict(LOCALNET_BEACON_WINDOWS),
            "race": {**LOCALNET_RACE_WINDOWS, **work_function}}
