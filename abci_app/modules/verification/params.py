"""Chain parameters of the verification module (whitepaper section 6; docs/verification.md,
"Parameters"; docs/modules.md section 5).

Every bound keeps the chain live whatever governance votes (DESIGN.md section 3): windows
are at least a block and bounded, so every reveal window and dispute ends; a message may
always carry a verdict; the audit makes progress every block (at least one task, whatever
``audit_work_per_block`` says); a check rate is at least 1 ppm and at most a hundred checks
per task, so no value stops checking or makes a verdict impossible. The worst a value can
do is check more or fewer tasks, or make reports dearer.

Defaults: a reputable executor's tasks get 5% of a check each on average (the whitepaper's
"1-10%"); a new executor's get five expected checks, each verifier's chance capped at
certainty, so nearly every task of a new node is checked (every one on a network of up to
five verifiers of equal weight); the rate halves with each reputation point (a clean
cycle). docs/verification.md, "Choosing the rates", has the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.modules.verification.errors import INVALID_PARAMS
from race_protocol.verification.draw import PPM

MAX_WINDOW_BLOCKS = 100_000
MAX_REPORT_WINDOW_BLOCKS = 1_000_000
MAX_CHECK_RATE_PPM = 100 * PPM
MAX_HALVING_REPUTATION = 1_000_000
MAX_REPORT_FEE_NICOIN = 10**12
MAX_VERDICTS_PER_MSG = 10_000
MAX_AUDIT_WORK_PER_BLOCK = 10_000_000
MAX_HISTORY_EPOCHS = 1_000_000


@dataclass(frozen=True)
class VerificationParams:
    """``reveal_window_blocks``: after an epoch's last block, how long its seeds may be
    revealed. ``min_check_rate_ppm`` / ``new_executor_check_rate_ppm``: expected checks per
    task for a reputable / a new executor; ``rate_halving_reputation``: reputation points
    per halving between them. ``dispute_window_blocks``: how long a dispute takes votes.
    ``report_fee_nicoin``: the price of a report; ``report_window_blocks``: how long after
    settling a task may be reported. ``max_verdicts_per_msg``: verdicts per message.
    ``audit_work_per_block``: draw recomputations per block (and rows pruned).
    ``history_epochs``: audited epochs kept for queries."""

    reveal_window_blocks: int = 100
    min_check_rate_ppm: int = 50_000
    new_executor_check_rate_ppm: int = 5 * PPM
    rate_halving_reputation: int = 1
    dispute_window_blocks: int = 20
    report_fee_nicoin: int = 10_000_000
    report_window_blocks: int = 1_000
    max_verdicts_per_msg: int = 200
    audit_work_per_block: int = 20_000
    history_epochs: int = 100


def _bounded(params: VerificationParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        raise INVALID_PARAMS(f"{name} must be between {low} and {high}, got {value}")


def validate(params: VerificationParams) -> None:
    """Every bound in the module docstring; the log names the field and its range."""
    _bounded(params, "reveal_window_blocks", 1, MAX_WINDOW_BLOCKS)
    _bounded(params, "new_executor_check_rate_ppm", 1, MAX_CHECK_RATE_PPM)
    _bounded(params, "min_check_rate_ppm", 1, params.new_executor_check_rate_ppm)
    _bounded(params, "rate_halving_reputation", 1, MAX_HALVING_REPUTATION)
    _bounded(params, "dispute_window_blocks", 1, MAX_WINDOW_BLOCKS)
    _bounded(params, "report_fee_nicoin", 0, MAX_REPORT_FEE_NICOIN)
    _bounded(params, "report_window_blocks", 1, MAX_REPORT_WINDOW_BLOCKS)
    _bounded(params, "max_verdicts_per_msg", 1, MAX_VERDICTS_PER_MSG)
    _bounded(params, "audit_work_per_block", 1, MAX_AUDIT_WORK_PER_BLOCK)
    _bounded(params, "history_epochs", 1, MAX_HISTORY_EPOCHS)
