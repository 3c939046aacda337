"""Every chain parameter has bounds that keep the chain live (DESIGN.md §3), checked when a
proposal is submitted (its dry run) and again when it executes (docs/modules.md §5).

A value outside them could freeze the chain for good: a minimum fee no one can pay stops
every tx, votes included, and a minimum deposit above what exists stops every proposal,
including the one that would undo it.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from abci_app.core.context import Context
from abci_app.core.errors import ChainError
from abci_app.core.params import set_params
from abci_app.modules.auth import errors as auth_errors
from abci_app.modules.bank import keeper as bank
from abci_app.modules.gov import errors as gov_errors
from abci_app.wiring import build_registry
from tests.gov.harness import ICOIN, Chain
from tests.gov.test_gov_module import (
    VETO,
    YES,
    proposal,
    status,
    submit,
    try_submit,
    update_params,
    vote,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "modules.md"
MIN_DEPOSIT = 1_000 * ICOIN
VOTING = 4
GENESIS = {
    "gov": {"params": {"min_deposit_nicoin": MIN_DEPOSIT, "min_initial_deposit_nicoin": ICOIN,
                       "max_deposit_period_blocks": 6, "voting_period_blocks": VOTING}},
}


def _int_params() -> list[tuple[str, str]]:
    """(module, field) of every integer param of every installed module."""
    found = []
    for module in build_registry().modules:
        if module.params_type is None:
            continue
        hints = typing.get_type_hints(module.params_type)
        found += [(module.name, f.name) for f in dataclasses.fields(module.params_type)
                  if hints[f.name] is int]
    return sorted(found)


def _params_context(chain: Chain) -> Context:
    return Context("finalize", chain.app.check_block, chain.app.check_state.child(),
                   chain.app.registry)


@pytest.mark.parametrize(("module", "field"), _int_params())
@pytest.mark.parametrize("value", [2**63, -1])
def test_no_integer_param_accepts_extreme_values(module: str, field: str, value: int) -> None:
    chain = Chain([10], GENESIS)
    with pytest.raises(ChainError):
        set_params(_params_context(chain), module, {field: value})


def test_every_param_has_a_row_in_the_bounds_table() -> None:
    documented = set(re.findall(r"^\| `(\w+\.\w+)` \|", DOCS.read_text(), re.MULTILINE))
    every = set()
    for module in build_registry().modules:
        if module.params_type is not None:
            every |= {f"{module.name}.{f.name}" for f in dataclasses.fields(module.params_type)}
    assert sorted(every - documented) == []


def test_a_minimum_fee_no_one_can_pay_is_refused_at_submission() -> None:
    chain = Chain([10], GENESIS)
    outcome = try_submit(chain, update_params(("auth", "min_fee_nicoin", str(2**63 - 1))))
    assert outcome.code == auth_errors.INVALID_PARAMS.code, outcome.log
    assert "min_fee_nicoin" in outcome.log
    assert chain.params("auth").min_fee_nicoin == 0


def test_a_minimum_deposit_above_the_supply_is_refused_at_submission() -> None:
    chain = Chain([10], GENESIS)
    supply = bank.supply(chain.keeper_context())
    outcome = try_submit(chain, update_params(("gov", "min_deposit_nicoin", str(supply + 1))))
    assert outcome.code == gov_errors.INVALID_PARAMS.code, outcome.log
    assert chain.params("gov").min_deposit_nicoin == MIN_DEPOSIT


def test_a_change_valid_at_submission_but_not_at_execution_fails_and_changes_nothing() -> None:
    chain = Chain([10], GENESIS)
    supply = bank.supply(chain.keeper_context())
    largest = supply // 100  # gov.min_deposit_nicoin: at most 1% of the supply
    vetoed = submit(chain)  # a text proposal whose deposit burns when it is vetoed
    raise_deposit = submit(chain, update_params(("gov", "min_deposit_nicoin", str(largest))))
    assert vote(chain, 0, vetoed, VETO) == 0
    assert vote(chain, 0, raise_deposit, YES) == 0

    chain.advance_to(chain.height + VOTING + 1)

    assert status(chain, vetoed) == "PROPOSAL_STATUS_VETOED"  # supply fell by its deposit
    assert status(chain, raise_deposit) == "PROPOSAL_STATUS_FAILED"
    assert "min_deposit_nicoin" in proposal(chain, raise_deposit)["execution_log"]
    assert chain.params("gov").min_deposit_nicoin == MIN_DEPOSIT


def test_a_supply_cap_below_the_supply_is_refused() -> None:
    chain = Chain([10], GENESIS)
    supply = bank.supply(chain.keeper_context())
    with pytest.raises(ChainError, match="max_supply_nicoin"):
        set_params(_params_context(chain), "bank", {"max_supply_nicoin": supply - 1})
    set_params(_params_context(chain), "bank", {"max_supply_nicoin": supply})


def test_at_the_tightest_bounds_governance_can_still_restore_the_defaults() -> None:
    """Every param at its least live allowed value at once: a proposal that undoes them is
    still submitted, deposited, voted and executed, and plain txs still pay their fee."""
    chain = Chain([10], GENESIS)
    supply = bank.supply(chain.keeper_context())
    tightest = [
        ("auth", "min_fee_nicoin", "1000000000"), ("auth", "max_tx_bytes", "4096"),
        ("auth", "max_messages", "1"), ("auth", "max_memo_bytes", "0"),
        ("gov", "min_deposit_nicoin", str(supply // 100)),
        ("gov", "min_initial_deposit_nicoin", str(supply // 100)),
        ("gov", "max_deposit_period_blocks", "1"), ("gov", "voting_period_blocks", "1"),
        ("gov", "quorum_ppm", "666666"), ("gov", "threshold_ppm", "666666"),
        ("gov", "veto_threshold_ppm", "334000"),
    ]
    tighten = submit(chain, update_params(*tightest))
    assert vote(chain, 0, tighten, YES) == 0
    chain.advance_to(chain.height + VOTING + 1)
    assert status(chain, tighten) == "PROPOSAL_STATUS_PASSED"
    chain.fee = 10**9

    restore = update_params(("auth", "min_fee_nicoin", "0"), ("auth", "max_tx_bytes", "65536"),
                            ("auth", "max_messages", "32"), ("gov", "voting_period_blocks", "4"))
    restored = submit(chain, restore, deposit=supply // 100)
    assert vote(chain, 0, restored, YES) == 0
    chain.end_block()

    assert status(chain, restored) == "PROPOSAL_STATUS_PASSED"
    assert chain.params("auth").min_fee_nicoin == 0
    assert chain.params("gov").voting_period_blocks == 4
