"""The epochs module: the chain's clock for periodic work.

Epoch 1 starts at the first block. In the last block of each epoch, after its txs, this
module's ``end_block`` fires the end-of-epoch hook; its subscribers, and their order, are
written in :func:`abci_app.wiring.hooks` (pricing sets the next price there today).
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, QueryRoute
from abci_app.modules.epochs import keeper, params, queries, tables


class EpochsModule(Module):
    """Counts blocks into epochs and fires the end-of-epoch hooks."""

    name = "epochs"
    tables = (tables.CURRENT_EPOCH,)
    params_type = params.EpochParams
    msg_routes = ()
    query_routes = (QueryRoute("current", queries.epoch),)

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        keeper.start_epoch(ctx, 1, max(ctx.block.height, 1))

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        return {}

    def end_block(self, ctx: Context) -> None:
        keeper.end_epoch_if_due(ctx)


MODULE = EpochsModule()
