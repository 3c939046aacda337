"""Chain parameters of the gov module: deposits, periods (blocks) and tally ratios (ppm).

Each bound keeps governance able to undo any change it makes (DESIGN.md §3; the table in
docs/modules.md §5). The tally bounds follow CometBFT's own fault assumption, that more
than two thirds of the weight is honest and online: such a majority always reaches the
quorum and passes the threshold, and the third that may be faulty can never veto.

* ``min_deposit_nicoin``: at most :data:`MAX_MIN_DEPOSIT_SUPPLY_PPM` of the supply when
  governance changes it (a state-dependent bound, :func:`validate_in_state`), so that a
  small coalition of holders can always open a voting period.
* periods: 1 block up to :data:`MAX_PERIOD_BLOCKS`. A one-block voting period can still
  be voted in: a vote in the same block as the deposit that opens voting counts.
* ``quorum_ppm`` and ``threshold_ppm`` at most two thirds; ``threshold_ppm`` at least one
  half (a minority never passes a proposal); ``veto_threshold_ppm`` at least a third.
"""

from dataclasses import dataclass

from abci_app.modules.bank.params import SUPPLY_CAP_NICOIN
from abci_app.modules.gov.errors import INVALID_PARAMS
from abci_app.modules.gov.tally import PPM, TallyRules

NICOIN_PER_ICOIN = 10**9
MAX_STORABLE = 2**63 - 1
MAX_PERIOD_BLOCKS = 10_000_000
MAX_MIN_DEPOSIT_SUPPLY_PPM = 10_000  # 1% of the supply
MAX_MIN_DEPOSIT_NICOIN = SUPPLY_CAP_NICOIN * MAX_MIN_DEPOSIT_SUPPLY_PPM // PPM
TWO_THIRDS_PPM = 666_666
MIN_THRESHOLD_PPM = 500_000
MIN_VETO_THRESHOLD_PPM = 334_000


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
    if not 1 <= params.min_deposit_nicoin <= MAX_MIN_DEPOSIT_NICOIN:
        raise INVALID_PARAMS(f"min_deposit_nicoin must be between 1 and "
                             f"{MAX_MIN_DEPOSIT_NICOIN} (1% of the supply cap), got "
                             f"{params.min_deposit_nicoin}")
    if not 0 <= params.min_initial_deposit_nicoin <= params.min_deposit_nicoin:
        raise INVALID_PARAMS("min_initial_deposit_nicoin must be between 0 and "
                             f"min_deposit_nicoin ({params.min_deposit_nicoin})")
    for name in ("max_deposit_period_blocks", "voting_period_blocks"):
        value = getattr(params, name)
        if not 1 <= value <= MAX_PERIOD_BLOCKS:
            raise INVALID_PARAMS(f"{name} must be between 1 and {MAX_PERIOD_BLOCKS}, got {value}")
    ranges = {
        "quorum_ppm": (0, TWO_THIRDS_PPM),
        "threshold_ppm": (MIN_THRESHOLD_PPM, TWO_THIRDS_PPM),
        "veto_threshold_ppm": (MIN_VETO_THRESHOLD_PPM, PPM),
    }
    for name, (low, high) in ranges.items():
        value = getattr(params, name)
        if not low <= value <= high:
            raise INVALID_PARAMS(f"{name} must be between {low} and {high} (parts per "
                                 f"million), got {value}")


def validate_in_state(params: GovParams, supply_nicoin: int) -> None:
    """A change by governance: the minimum deposit is at most 1% of today's supply."""
    largest = supply_nicoin * MAX_MIN_DEPOSIT_SUPPLY_PPM // PPM
    if params.min_deposit_nicoin > largest:
        raise INVALID_PARAMS(
            f"min_deposit_nicoin {params.min_deposit_nicoin} is above 1% of the supply "
            f"({largest} of {supply_nicoin} nicoin): holders could never open a vote")
