"""Queries of the epochs module, answered as ``race.v1`` JSON (see proto/race/v1/query.proto)."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.modules.epochs import keeper


def epoch(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/epochs/current``: the epoch the chain is in (``QueryEpochResponse``)."""
    return {"epoch": keeper.current_epoch(ctx).as_dict(), "height": str(ctx.block.height)}
