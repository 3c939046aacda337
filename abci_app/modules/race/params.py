"""Chain parameters of the race module (whitepaper section 4 and Appendix A; docs/race.md).

Bounds keep the chain live whatever governance votes (DESIGN.md section 3, docs/modules.md
section 5): every window is at least a block and at most :data:`MAX_WINDOW_BLOCKS`, so a
cycle always ends; a cycle that decides nothing keeps the previous weights, so no value
here can empty the validator set. The sample size stays within what an opening can carry
(a node may split its openings over several txs, so ``auth.max_tx_bytes`` never blocks
one). The power cap stays below one third: a node holding a third of the power can stop
consensus alone. The work function is any shape every node can build identically
(:meth:`race_protocol.race.config.RaceConfig.validate`); a shape nobody can race in the
window only means no node is accepted, and the previous weights stay.

Defaults are mainnet's: about ten minutes at six-second blocks (a 60-block race window,
then commit, beacon waits, opening and validation), and the paper's work function. The
localnet overrides them with a short cycle and the small work function
(race_node/localnet/race_params.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.modules.race.errors import INVALID_PARAMS
from race_protocol.race.config import PAPER_CONFIG, InvalidRaceConfig, RaceConfig

MAX_WINDOW_BLOCKS = 100_000
MAX_SAMPLE_SIZE = 256
MAX_POWER_SHARE_PPM = 333_333
MAX_HISTORY_CYCLES = 1_000_000
MAX_SCALED = 1 << 62
# k = 32: a node padding 20% of its leaves passes with probability 0.8^32 < 0.1%, and its
# expected weight (passing chance times the padded count) is below an honest node's for
# any padding (docs/race.md, "Choosing k").
DEFAULT_SAMPLE_SIZE = 32
DEFAULT_MAX_POWER_SHARE_PPM = 300_000


@dataclass(frozen=True)
class RaceParams:
    """The cycle's windows in blocks, the sample size ``k``, the power cap and the work
    function (docs/race.md, "The cycle" and section 1)."""

    race_window_blocks: int = 60
    commit_window_blocks: int = 5
    open_window_blocks: int = 5
    validation_window_blocks: int = 10
    sample_size: int = DEFAULT_SAMPLE_SIZE
    max_power_share_ppm: int = DEFAULT_MAX_POWER_SHARE_PPM
    history_cycles: int = 1_000
    n_layers: int = PAPER_CONFIG.n_layers
    n_heads: int = PAPER_CONFIG.n_heads
    d_model: int = PAPER_CONFIG.d_model
    vocab_size: int = PAPER_CONFIG.vocab_size
    ffn_hidden: int = PAPER_CONFIG.ffn_hidden
    seq_len: int = PAPER_CONFIG.seq_len
    hit_rate_denominator: int = PAPER_CONFIG.hit_rate_denominator
    threshold_scaled: int = PAPER_CONFIG.threshold_scaled
    tolerance_scaled: int = PAPER_CONFIG.tolerance_scaled
    honest_mismatch_ppm: int = PAPER_CONFIG.honest_mismatch_ppm

    def race_config(self) -> RaceConfig:
        """The work function as the sidecar's RaceConfig."""
        return RaceConfig(
            n_layers=self.n_layers, n_heads=self.n_heads, d_model=self.d_model,
            vocab_size=self.vocab_size, ffn_hidden=self.ffn_hidden, seq_len=self.seq_len,
            hit_rate_denominator=self.hit_rate_denominator,
            threshold_scaled=self.threshold_scaled, tolerance_scaled=self.tolerance_scaled,
            honest_mismatch_ppm=self.honest_mismatch_ppm)


WINDOWS = ("race_window_blocks", "commit_window_blocks", "open_window_blocks",
           "validation_window_blocks")


def _in(params: RaceParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        raise INVALID_PARAMS(f"{name} must be between {low} and {high}, got {value}")


def validate(params: RaceParams) -> None:
    """Every bound in the module docstring; the log names the field and its range."""
    for name in WINDOWS:
        _in(params, name, 1, MAX_WINDOW_BLOCKS)
    _in(params, "sample_size", 1, MAX_SAMPLE_SIZE)
    _in(params, "max_power_share_ppm", 1, MAX_POWER_SHARE_PPM)
    _in(params, "history_cycles", 1, MAX_HISTORY_CYCLES)
    for name in ("threshold_scaled", "tolerance_scaled"):
        _in(params, name, 0, MAX_SCALED)
    for name in ("n_layers", "n_heads", "d_model", "vocab_size", "ffn_hidden", "seq_len",
                 "hit_rate_denominator", "honest_mismatch_ppm"):
        _in(params, name, 0, MAX_SCALED)
    try:
        params.race_config().validate()
    except InvalidRaceConfig as bad:
        raise INVALID_PARAMS(f"the work function cannot be built: {bad}") from None

