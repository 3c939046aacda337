"""Chain parameters of the gov module: deposits, periods (blocks) and tally ratios (ppm)."""

from dataclasses import dataclass

from abci_app.modules.gov.errors import INVALID_PARAMS
from abci_app.modules.gov.tally import PPM, TallyRules

NICOIN_PER_ICOIN = 10**9
MAX_STORABLE = 2**63 - 1
MAX_PERIOD_BLOCKS = 10_000_000


@dataclass(frozen=True)
class GovParams:
    """Defaults follow the Cosmos SDK's x/gov; periods are about two days at 6 s blocks.

    ``min_deposit_nicoin``: deposit that opens the voting period. ``min_initial_deposit_nicoin``:
    the least a proposal is submitted with (spam protection). ``max_deposit_period_blocks`` and
    ``voting_period_blocks``: period lengths. ``quorum_ppm``, ``threshold_ppm`` and
    ``veto_threshold_ppm``: tally ratios in parts per million (see tally.py).
    """

    min_deposit_nicoin: int = 1_000 * NICOIN_PER_ICOIN
    min_initial_deposit_nicoin: int = 100 * NICOIN_PER_ICOIN
    max_deposit_period_blocks: int = 28_800
    voting_period_blocks: int = 28_800
    quorum_ppm: int = 334_000
    threshold_ppm: int = 500_000
    veto_threshold_ppm: int = 334_000

    def tally_rules(self) -> TallyRules:
        return TallyRules(self.quorum_ppm, self.threshold_ppm, self.veto_threshold_ppm)


def validate(params: GovParams) -> None:
    """Amounts and periods in range; ratios in ppm, chosen so governance can still pass."""
    if not 1 <= params.min_deposit_nicoin <= MAX_STORABLE:
        raise INVALID_PARAMS(f"min_deposit_nicoin must be between 1 and {MAX_STORABLE}")
    if not 0 <= params.min_initial_deposit_nicoin <= params.min_deposit_nicoin:
        raise INVALID_PARAMS("min_initial_deposit_nicoin must be between 0 and "
                             f"min_deposit_nicoin ({params.min_deposit_nicoin})")
    for name in ("max_deposit_period_blocks", "voting_period_blocks"):
        value = getattr(params, name)
        if not 1 <= value <= MAX_PERIOD_BLOCKS:
            raise INVALID_PARAMS(f"{name} must be between 1 and {MAX_PERIOD_BLOCKS}, got {value}")
    ranges = {
        "quorum_ppm": (0, PPM),
        # yes must be strictly more than the threshold: at PPM nothing could ever pass.
        "threshold_ppm": (1, PPM - 1),
        "veto_threshold_ppm": (1, PPM),
    }
    for name, (low, high) in ranges.items():
        value = getattr(params, name)
        if not low <= value <= high:
            raise INVALID_PARAMS(f"{name} must be between {low} and {high} (parts per "
                                 f"million), got {value}")
