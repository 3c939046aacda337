"""The adversary bench's quick mode (bench/adversary.py, docs/rewards.md "Simulator"): the
JSON it prints has every strategy's figures, no strategy is paid more than honesty, and
honest nodes are never penalised."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "adversary.py"
STRATEGIES = ("honest", "lazy", "cheap", "skipper", "liar", "spammer", "collude_25")


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_adversary", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_mode_prints_every_strategy_and_none_beats_honesty(capsys) -> None:
    result = load().main(["--quick"])
    json.loads(json.dumps(result))  # one JSON document
    strategies = result["strategies"]
    assert set(STRATEGIES) <= set(strategies)
    for name in STRATEGIES:
        entry = strategies[name]
        catch = entry["caught_within_one_cycle"]
        assert 0.0 <= catch["measured"] <= 1.0 and 0.0 <= catch["analytic"] <= 1.0
        assert entry["verification_share"] >= 0.0
        assert isinstance(entry["payoff_ratio"], float)
    for name, entry in strategies.items():
        if name != "honest":
            assert entry["payoff_ratio"] < 1.0, (name, entry)
    assert result["max_payoff_ratio_of_a_strategy"] < 1.0
    # Cheats at the executor are caught on chain and lose (almost) everything.
    for name in ("lazy", "cheap"):
        assert strategies[name]["chain_outcomes"]["caught"], name
        assert strategies[name]["payoff_ratio"] < 0.5, name
    assert strategies["collude_25"]["chain_outcomes"]["executor"]["caught"]
    for name in ("skipper", "liar"):
        assert strategies[name]["chain_outcomes"]["validation_share_lost"], name
    # Honest nodes: never caught, flagged or short, and no honest replay fails.
    assert strategies["honest"]["penalised"] is False
    assert strategies["collude_25"]["honest_penalised"] is False
    assert result["replay_fail_rate"]["honest"] == 0.0
    defaults = result["default_parameters"]
    caught = defaults["persistent_cheater_caught_within_one_cycle"]
    assert caught["analytic"] >= 0.999 and caught["measured"] >= 0.99
    assert defaults["verification_share"]["share"] <= 0.02
    assert defaults["app_cpu_ms_per_verdict"] > 0 and defaults["app_cpu_ms_per_report"] > 0
    assert "[adversary]" in capsys.readouterr().err
