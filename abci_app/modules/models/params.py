"""Chain parameters of the models module."""

from dataclasses import dataclass

from abci_app.modules.models.errors import INVALID_PARAMS

MAX_STORABLE = 2**63 - 1


@dataclass(frozen=True)
class ModelsParams:
    """``max_units_of_compute_per_token``: the largest cost per token a model may register."""

    max_units_of_compute_per_token: int = 1_000_000_000


def validate(params: ModelsParams) -> None:
    """The bound is positive and storable."""
    if not 1 <= params.max_units_of_compute_per_token <= MAX_STORABLE:
        raise INVALID_PARAMS(
            f"max_units_of_compute_per_token must be between 1 and {MAX_STORABLE}, "
            f"got {params.max_units_of_compute_per_token}"
        )
