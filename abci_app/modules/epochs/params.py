"""Chain parameters of the epochs module."""

from dataclasses import dataclass

from abci_app.modules.epochs.errors import INVALID_PARAMS

# About one day at six-second blocks; localnets and tests set a few blocks in genesis.
DEFAULT_EPOCH_LENGTH_BLOCKS = 14_400
MAX_EPOCH_LENGTH_BLOCKS = 10_000_000


@dataclass(frozen=True)
class EpochParams:
    """``epoch_length_blocks``: blocks per epoch; a change applies from the next epoch."""

    epoch_length_blocks: int = DEFAULT_EPOCH_LENGTH_BLOCKS


def validate(params: EpochParams) -> None:
    """An epoch is at least one block long and bounded, so heights never overflow."""
    if not 1 <= params.epoch_length_blocks <= MAX_EPOCH_LENGTH_BLOCKS:
        raise INVALID_PARAMS(
            f"epoch_length_blocks must be between 1 and {MAX_EPOCH_LENGTH_BLOCKS}, "
            f"got {params.epoch_length_blocks}"
        )
