"""Chain parameters of the beacon module (whitepaper Appendix B; docs/beacon.md).

Each bound keeps the chain live whatever governance votes: windows are at least a block,
the threshold stays above half of the share units (below it a minority could recover
secrets early and bias the output; above 999,999 ppm one offline unit would stop every
recovery), and the share units stay within what one deal tx can carry (a deal of 256
units is about 37 KB, under the default ``auth.max_tx_bytes``). A round reads the values
when it opens, so a change never reshapes the round in progress.
"""

from dataclasses import dataclass

from abci_app.modules.beacon.errors import INVALID_PARAMS
from race_protocol.beacon.pvss import MAX_SHARE_UNITS

MAX_WINDOW_BLOCKS = 100_000
MIN_THRESHOLD_PPM = 500_000
MAX_THRESHOLD_PPM = 999_999
MAX_HISTORY_ROUNDS = 1_000_000


@dataclass(frozen=True)
class BeaconParams:
    """The round schedule in blocks, the threshold, and the size of a round.

    ``commit_window_blocks``, ``reveal_window_blocks``, ``recovery_window_blocks``: the
    three windows of a round, back to back; rounds follow each other directly.
    ``threshold_ppm``: shares needed to recover a secret, as parts per million of the
    share units (``floor(units·ppm/10^6) + 1``). ``max_participants``: the heaviest nodes
    with a registered key take part, at most this many. ``max_share_units``: share
    indices dealt per round. ``history_rounds``: rounds kept for queries.
    """

    commit_window_blocks: int = 10
    reveal_window_blocks: int = 10
    recovery_window_blocks: int = 10
    threshold_ppm: int = 500_000
    max_participants: int = 64
    max_share_units: int = 64
    history_rounds: int = 1_000


def validate(params: BeaconParams) -> None:
    """Every bound in the module docstring; the log names the field and its range."""
    for name in ("commit_window_blocks", "reveal_window_blocks", "recovery_window_blocks"):
        value = getattr(params, name)
        if not 1 <= value <= MAX_WINDOW_BLOCKS:
            raise INVALID_PARAMS(f"{name} must be between 1 and {MAX_WINDOW_BLOCKS}, "
                                 f"got {value}")
    if not MIN_THRESHOLD_PPM <= params.threshold_ppm <= MAX_THRESHOLD_PPM:
        raise INVALID_PARAMS(f"threshold_ppm must be between {MIN_THRESHOLD_PPM} and "
                             f"{MAX_THRESHOLD_PPM}, got {params.threshold_ppm}")
    if not 1 <= params.max_share_units <= MAX_SHARE_UNITS:
        raise INVALID_PARAMS(f"max_share_units must be between 1 and {MAX_SHARE_UNITS}, "
                             f"got {params.max_share_units}")
    if not 1 <= params.max_participants <= params.max_share_units:
        raise INVALID_PARAMS(
            f"max_participants must be between 1 and max_share_units "
            f"({params.max_share_units}): each participant holds at least one unit; got "
            f"{params.max_participants}")
    if not 1 <= params.history_rounds <= MAX_HISTORY_ROUNDS:
        raise INVALID_PARAMS(f"history_rounds must be between 1 and {MAX_HISTORY_ROUNDS}, "
                             f"got {params.history_rounds}")
