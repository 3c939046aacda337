"""Price votes on chain: who may vote, and the weighted median at each epoch's end."""

from abci_app.core.errors import BAD_QUERY
from abci_app.modules.pricing import keeper as pricing
from abci_app.modules.pricing.errors import (
    INVALID_PRICE,
    NO_VOTING_WEIGHT,
    PRICE_ABOVE_MAX,
    VOTER_NOT_SIGNER,
)
from race_protocol.gen.race.v1 import pricing_pb2
from tests.gov.harness import Chain, account

EPOCH = 5
GENESIS_STATE = {
    "epochs": {"params": {"epoch_length_blocks": EPOCH}},
    "pricing": {"params": {"genesis_price_per_unit_nicoin": 100,
                           "max_price_per_unit_nicoin": 10**12}},
}


def vote(chain: Chain, index: int, price: int) -> int:
    voter = account(index)
    return chain.deliver(voter, pricing_pb2.MsgPriceVote(voter=voter,
                                                          price_per_unit_nicoin=price)).code


def test_first_epoch_price_is_the_genesis_parameter() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    answer = chain.query("/pricing/price")
    assert (answer["price_per_unit_nicoin"], answer["epoch"]) == ("100", "1")


def test_next_epoch_price_is_the_weighted_median_with_non_voters_at_the_current_price() -> None:
    chain = Chain([10, 20, 30, 40], GENESIS_STATE)
    assert vote(chain, 0, 500) == 0
    assert vote(chain, 1, 300) == 0
    assert vote(chain, 2, 900) == 0
    # Validator 3 (weight 40) never votes and counts at 100: sorted 100(40) 300(20) 500(10)
    # 900(30); cumulative 40, 60 > 50 of 100 -> 300.
    chain.advance_to(EPOCH + 1)
    answer = chain.query("/pricing/price")
    assert (answer["price_per_unit_nicoin"], answer["epoch"]) == ("300", "2")


def test_price_is_unchanged_before_the_epoch_ends() -> None:
    chain = Chain([10], GENESIS_STATE)
    vote(chain, 0, 777)
    chain.advance_to(EPOCH)
    assert chain.query("/pricing/price")["price_per_unit_nicoin"] == "100"
    chain.advance_to(EPOCH + 1)
    assert chain.query("/pricing/price")["price_per_unit_nicoin"] == "777"


def test_votes_keep_counting_in_later_epochs_and_history_is_kept() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    vote(chain, 0, 200)
    vote(chain, 1, 200)
    chain.advance_to(2 * EPOCH + 1)
    history = chain.query("/pricing/history")["prices"]
    assert [(h["epoch"], h["price_per_unit_nicoin"]) for h in history] == [
        ("3", "200"), ("2", "200"), ("1", "100")]


def test_a_later_vote_replaces_the_earlier_one() -> None:
    chain = Chain([10], GENESIS_STATE)
    vote(chain, 0, 400)
    outcome = chain.deliver(account(0), pricing_pb2.MsgPriceVote(
        voter=account(0), price_per_unit_nicoin=250))
    assert outcome.attributes("price_vote")["replaced"] == "true"
    assert chain.query(f"/pricing/vote/{account(0)}")["vote"]["price_per_unit_nicoin"] == "250"


def test_an_account_without_voting_weight_cannot_vote() -> None:
    chain = Chain([10], GENESIS_STATE)
    assert vote(chain, 100, 5) == NO_VOTING_WEIGHT.code
    assert chain.query("/pricing/votes")["votes"] == []


def test_a_vote_for_someone_else_is_refused() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    outcome = chain.deliver(account(1), pricing_pb2.MsgPriceVote(
        voter=account(0), price_per_unit_nicoin=5))
    assert outcome.code == VOTER_NOT_SIGNER.code


def test_a_vote_above_the_maximum_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    assert vote(chain, 0, 10**12 + 1) == PRICE_ABOVE_MAX.code


def test_a_zero_price_is_refused_statelessly() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = chain.deliver(account(0), pricing_pb2.MsgPriceVote(voter=account(0)))
    assert outcome.code == INVALID_PRICE.code and "price_per_unit_nicoin" in outcome.log


def test_epoch_end_emits_the_new_price() -> None:
    chain = Chain([10], GENESIS_STATE)
    vote(chain, 0, 321)
    events = chain.advance_to(EPOCH + 1)
    update = next(dict(e.attributes) for e in events if e.type == "price_update")
    assert (update["epoch"], update["price_per_unit_nicoin"], update["voters"]) == (
        "2", "321", "1")
    assert pricing.current_price(chain.keeper_context()) == 321


def test_history_keeps_only_the_configured_number_of_epochs() -> None:
    state = {**GENESIS_STATE, "pricing": {"params": {"genesis_price_per_unit_nicoin": 100,
                                                     "history_length": 2}}}
    chain = Chain([10], state)
    chain.advance_to(3 * EPOCH + 1)
    epochs = [h["epoch"] for h in chain.query("/pricing/history")["prices"]]
    assert epochs == ["4", "3"]


def test_genesis_export_round_trips_votes_and_price() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    vote(chain, 0, 640)
    chain.advance_to(EPOCH + 1)
    exported = chain.registry.module("pricing").export_genesis(chain.keeper_context())
    restored = Chain([10, 10], {**GENESIS_STATE, "pricing": {
        **GENESIS_STATE["pricing"], **exported}})
    assert restored.query("/pricing/price")["price_per_unit_nicoin"] == \
        chain.query("/pricing/price")["price_per_unit_nicoin"]
    assert restored.query("/pricing/votes")["votes"][0]["price_per_unit_nicoin"] == "640"


def test_a_vote_query_needs_a_valid_address() -> None:
    chain = Chain([10], GENESIS_STATE)
    refused = chain.query_raw("/pricing/vote/not-an-address")
    assert refused.code == BAD_QUERY.code and "race1" in refused.log
