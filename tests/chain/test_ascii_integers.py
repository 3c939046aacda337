"""Consensus reads integers written as text in ASCII only (race_protocol.integers).

Python's int() and str.isdigit() accept other scripts' digits, and which ones depends on
the interpreter's Unicode version: a 3.11 node and a 3.12 node could disagree on a
proposal. Each test feeds non-ASCII digits through one door where consensus reads text.
"""

from __future__ import annotations

import pytest

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY, ChainError
from abci_app.core.params import BAD_PARAM_VALUE, coerce_changes, set_params
from abci_app.genesis import GenesisError, build_app_state, validate_app_state
from abci_app.modules.auth.params import AuthParams
from abci_app.modules.bank.denom import AmountError, parse_amount
from race_protocol.integers import integer_from_json, is_decimal, parse_decimal

from .conftest import Chain, address_of, key_from_seed

ARABIC_INDIC_5000 = "\u0665\u0660\u0660\u0660"  # ٥٠٠٠
FULLWIDTH_12 = "\uff11\uff12"  # １２
SUPERSCRIPT_2 = "\u00b2"  # ², a digit to isdigit() that int() refuses
NON_ASCII = (ARABIC_INDIC_5000, FULLWIDTH_12, SUPERSCRIPT_2, "-\u0661")


@pytest.mark.parametrize("text", [*NON_ASCII, "", "-", "+5", " 5", "5\n", "1_000", "0x10"])
def test_only_ascii_decimal_text_is_an_integer(text: str) -> None:
    assert not is_decimal(text)
    with pytest.raises(ValueError):
        parse_decimal(text)


def test_ascii_decimals_and_json_integers_parse() -> None:
    assert [parse_decimal(t) for t in ("0", "5000", "-7", "007")] == [0, 5000, -7, 7]
    assert integer_from_json(12) == integer_from_json("12") == 12
    for bad in (True, 1.0, None, [1], FULLWIDTH_12):
        with pytest.raises(ValueError):
            integer_from_json(bad)


@pytest.mark.parametrize("text", NON_ASCII)
def test_a_param_change_with_non_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(ChainError) as refused:
        coerce_changes(AuthParams, {"min_fee_nicoin": text}, "auth")
    assert refused.value.code == BAD_PARAM_VALUE.code


def test_set_params_refuses_non_ascii_digits_and_keeps_the_old_value(chain: Chain) -> None:
    ctx = Context("finalize", chain.app.check_block, chain.app.check_state.child(),
                  chain.app.registry)
    with pytest.raises(ChainError) as refused:
        set_params(ctx, "auth", {"min_fee_nicoin": ARABIC_INDIC_5000})
    assert refused.value.code == BAD_PARAM_VALUE.code
    assert ctx.params("auth").min_fee_nicoin == 1000


@pytest.mark.parametrize("path", [f"/gov/proposal/{FULLWIDTH_12}",
                                  f"/gov/proposal/{SUPERSCRIPT_2}",
                                  f"/pricing/history/{ARABIC_INDIC_5000}"])
def test_queries_refuse_non_ascii_digits_as_bad_queries(chain: Chain, path: str) -> None:
    assert chain.query_raw(path).code == BAD_QUERY.code


def test_genesis_amounts_in_other_scripts_are_refused() -> None:
    state = build_app_state({address_of(key_from_seed(1)): 10})
    state["bank"]["balances"][0]["amount"] = FULLWIDTH_12
    with pytest.raises(GenesisError, match="integer"):
        validate_app_state(state)


def test_genesis_sequences_in_other_scripts_are_refused() -> None:
    address = address_of(key_from_seed(1))
    state = build_app_state({address: 10})
    state["auth"]["accounts"] = [{"address": address, "sequence": ARABIC_INDIC_5000}]
    with pytest.raises(GenesisError, match="integer"):
        validate_app_state(state)


@pytest.mark.parametrize("text", [f"{FULLWIDTH_12}icoin", f"1.{ARABIC_INDIC_5000}icoin",
                                  "1icoin\n"])
def test_amounts_are_read_in_ascii_only(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)
