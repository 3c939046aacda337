"""State access of the epochs module: which epoch the chain is in, and moving to the next.

An epoch is a run of consecutive blocks; the FinalizeBlock of its last block fires the
end-of-epoch hook, whose subscribers :mod:`abci_app.wiring` lists in order (whitepaper
Appendix J 3b: prices change "at the end of each epoch"). The length is read when an
epoch starts, so a governance change to ``epoch_length_blocks`` never shortens or
stretches the epoch in progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.core.context import Context
from abci_app.modules.epochs.tables import CURRENT_EPOCH, CURRENT_KEY


@dataclass(frozen=True)
class Epoch:
    """An epoch: its number (1 after genesis) and its first and last block heights."""

    number: int
    start_height: int
    end_height: int
    length_blocks: int

    def as_dict(self) -> dict[str, str]:
        """The ``race.v1.EpochInfo`` JSON form (64-bit integers as strings)."""
        return {
            "number": str(self.number),
            "start_height": str(self.start_height),
            "end_height": str(self.end_height),
            "length_blocks": str(self.length_blocks),
        }


def current_epoch(ctx: Context) -> Epoch:
    """The epoch the chain is in; before genesis ran, a notional first epoch at height 1."""
    row = ctx.table(CURRENT_EPOCH).get(CURRENT_KEY)
    if row is None:
        length = ctx.params("epochs").epoch_length_blocks
        return Epoch(1, 1, length, length)
    return Epoch(row["number"], row["start_height"], row["end_height"], row["length_blocks"])


def start_epoch(ctx: Context, number: int, start_height: int) -> Epoch:
    """Open epoch ``number`` at ``start_height`` with the current length parameter."""
    length = ctx.params("epochs").epoch_length_blocks
    epoch = Epoch(number, start_height, start_height + length - 1, length)
    ctx.table(CURRENT_EPOCH).put(CURRENT_KEY, {
        "number": epoch.number,
        "start_height": epoch.start_height,
        "end_height": epoch.end_height,
        "length_blocks": epoch.length_blocks,
    })
    ctx.emit("epoch_start", epoch=epoch.number, start_height=epoch.start_height,
             end_height=epoch.end_height)
    return epoch


def end_epoch_if_due(ctx: Context) -> Epoch | None:
    """At the epoch's last block: fire the end-of-epoch hook and open the next epoch.

    Returns the epoch that ended, or None when the block is not an epoch's last.
    """
    epoch = current_epoch(ctx)
    if ctx.block.height < epoch.end_height:
        return None
    ctx.emit("epoch_end", epoch=epoch.number, start_height=epoch.start_height,
             end_height=ctx.block.height)
    ctx.registry.hooks.run_epoch_end(ctx, epoch.number)
    start_epoch(ctx, epoch.number + 1, ctx.block.height + 1)
    return epoch
