"""Proposals on chain: deposits, votes, tallies, execution of their messages by the gov
account, and the txs that are refused. Each ``chain.deliver`` is its own block."""

from __future__ import annotations

import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from abci_app.core.authority import governance_authority
from abci_app.core.params import BAD_PARAM_VALUE, UNKNOWN_PARAM
from abci_app.modules.bank import errors as bank_errors
from abci_app.modules.bank import keeper as bank
from abci_app.modules.epochs import errors as epochs_errors
from abci_app.modules.gov import errors as gov_errors
from abci_app.modules.gov.escrow import escrow_address
from abci_app.modules.models import errors as models_errors
from abci_app.modules.params import errors as params_errors
from abci_app.modules.pricing import errors as pricing_errors
from abci_app.tx import errors as tx_errors
from abci_app.tx.codec import pack
from race_protocol.gen.race.v1 import bank_pb2, gov_pb2, models_pb2, params_pb2, pricing_pb2
from tests.gov.harness import ICOIN, Chain, Outcome, account

MIN_DEPOSIT = 1_000 * ICOIN
VOTING = 4
DEPOSIT_PERIOD = 6
GENESIS_STATE = {
    "epochs": {"params": {"epoch_length_blocks": 1_000}},
    "pricing": {"params": {"genesis_price_per_unit_nicoin": 7}},
    "gov": {"params": {"min_deposit_nicoin": MIN_DEPOSIT, "min_initial_deposit_nicoin": ICOIN,
                       "max_deposit_period_blocks": DEPOSIT_PERIOD,
                       "voting_period_blocks": VOTING}},
}
YES, NO, ABSTAIN, VETO = (gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_NO,
                          gov_pb2.VOTE_OPTION_ABSTAIN, gov_pb2.VOTE_OPTION_NO_WITH_VETO)
GOV = governance_authority()
MODEL_ID = "smollm2-135m"


def register_model(model_id: str = MODEL_ID, units: int = 1_000, owner: int = 0
                   ) -> models_pb2.MsgRegisterModel:
    return models_pb2.MsgRegisterModel(
        authority=GOV, owner=account(owner), id=model_id,
        source=models_pb2.ModelSource(hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
                                      revision="main"),
        units_of_compute_per_token=units, max_context=2048, validation_threshold_ppm=990_000)


def retire_model(model_id: str = MODEL_ID) -> models_pb2.MsgRetireModel:
    return models_pb2.MsgRetireModel(authority=GOV, id=model_id)


def update_params(*changes: tuple[str, str, str]) -> params_pb2.MsgUpdateParams:
    return params_pb2.MsgUpdateParams(authority=GOV, changes=[
        params_pb2.ParamChange(module=m, key=k, value=v) for m, k, v in changes])


def community_spend(recipient: str, amount: int) -> bank_pb2.MsgSend:
    """A MsgSend of the gov account's own coins."""
    return bank_pb2.MsgSend(from_address=GOV, to_address=recipient, amount_nicoin=amount)


def submission(*messages: Message | AnyMessage, deposit: int = MIN_DEPOSIT, proposer: int = 0,
               title: str = "a proposal") -> gov_pb2.MsgSubmitProposal:
    packed = [m if isinstance(m, AnyMessage) else pack(m) for m in messages]
    return gov_pb2.MsgSubmitProposal(proposer=account(proposer), title=title, summary="why",
                                     messages=packed, initial_deposit_nicoin=deposit)


def try_submit(chain: Chain, *messages: Message | AnyMessage, deposit: int = MIN_DEPOSIT,
               proposer: int = 0) -> Outcome:
    return chain.deliver(account(proposer),
                         submission(*messages, deposit=deposit, proposer=proposer))


def submit(chain: Chain, *messages: Message, deposit: int = MIN_DEPOSIT,
           proposer: int = 0) -> int:
    """Submit a proposal carrying ``messages`` (none: a text proposal); its id."""
    outcome = try_submit(chain, *messages, deposit=deposit, proposer=proposer)
    assert outcome.ok, outcome.log
    return int(outcome.attributes("submit_proposal")["proposal_id"])


def vote(chain: Chain, voter: int, proposal_id: int, option: int) -> int:
    return chain.deliver(account(voter), gov_pb2.MsgVote(
        voter=account(voter), proposal_id=proposal_id, option=option)).code


def proposal(chain: Chain, proposal_id: int) -> dict:
    return chain.query(f"/gov/proposal/{proposal_id}")["proposal"]


def status(chain: Chain, proposal_id: int) -> str:
    return proposal(chain, proposal_id)["status"]


def balance(chain: Chain, index: int) -> int:
    return chain.balance(account(index))


def supply(chain: Chain) -> int:
    return bank.supply(chain.keeper_context())


def finish_voting(chain: Chain) -> None:
    """Empty blocks past the voting period of every proposal submitted so far."""
    chain.advance_to(chain.height + VOTING + 1)


def pass_proposal(chain: Chain, *messages: Message) -> int:
    """Submit, vote yes with validator 0 (the whole weight of a one-validator chain), close."""
    proposal_id = submit(chain, *messages)
    assert vote(chain, 0, proposal_id, YES) == 0
    finish_voting(chain)
    return proposal_id


def fund_gov_account(chain: Chain, amount: int, sender: int = 100) -> None:
    """Anyone can give coins to the gov account; only a passed proposal spends them."""
    sent = chain.deliver(account(sender), bank_pb2.MsgSend(
        from_address=account(sender), to_address=GOV, amount_nicoin=amount))
    assert sent.ok, sent.log


# --- the model registry through governance ---------------------------------------------

def test_a_passed_register_proposal_activates_the_model_with_its_price_per_token() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    proposal_id = submit(chain, register_model(units=1_000))
    assert chain.query(f"/models/model/{MODEL_ID}")["model"]["status"] == \
        "MODEL_STATUS_PROPOSED"
    for voter in (0, 1):
        assert vote(chain, voter, proposal_id, YES) == 0
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    answer = chain.query(f"/models/model/{MODEL_ID}")
    assert answer["model"]["status"] == "MODEL_STATUS_ACTIVE"
    assert answer["model"]["owner"] == account(0)
    assert answer["price_per_token_nicoin"] == str(1_000 * 7)
    assert chain.query("/models/pricing")["prices"][0]["price_per_token_nicoin"] == "7000"


def test_a_register_proposal_stores_its_message_and_kind() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, register_model())
    stored = proposal(chain, proposal_id)
    assert stored["kind"] == "MsgRegisterModel"
    (message,) = stored["messages"]
    assert (message["@type"], message["authority"], message["id"]) == (
        "/race.v1.MsgRegisterModel", GOV, MODEL_ID)


def test_a_rejected_register_proposal_frees_the_model_id() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    proposal_id = submit(chain, register_model())
    for voter in (0, 1):
        vote(chain, voter, proposal_id, NO)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_REJECTED"
    assert chain.query("/models/list")["models"] == []
    submit(chain, register_model())  # the id can be proposed again


def test_registering_a_model_directly_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    direct = register_model()
    direct.authority = account(0)
    outcome = chain.deliver(account(0), direct)
    assert outcome.code == models_errors.GOVERNANCE_ONLY.code
    assert "race gov propose model" in outcome.log
    direct.authority = GOV  # claiming the gov authority does not help
    assert chain.deliver(account(0), direct).code == models_errors.GOVERNANCE_ONLY.code
    assert chain.query("/models/list")["models"] == []


def test_a_model_id_in_use_cannot_be_proposed_twice() -> None:
    chain = Chain([10], GENESIS_STATE)
    submit(chain, register_model())
    outcome = try_submit(chain, register_model())
    assert outcome.code == models_errors.MODEL_EXISTS.code


def test_retire_and_update_proposals_change_an_active_model() -> None:
    chain = Chain([10], GENESIS_STATE)
    pass_proposal(chain, register_model(units=50))
    pass_proposal(chain, models_pb2.MsgUpdateModelParams(
        authority=GOV, id=MODEL_ID, units_of_compute_per_token=80))
    assert chain.query(f"/models/model/{MODEL_ID}")["price_per_token_nicoin"] == str(80 * 7)
    pass_proposal(chain, retire_model())
    assert chain.query("/models/list/retired")["models"][0]["id"] == MODEL_ID
    assert chain.query("/models/pricing")["prices"] == []


def test_a_passed_proposal_that_cannot_execute_fails_and_refunds() -> None:
    chain = Chain([10], GENESIS_STATE)
    pass_proposal(chain, register_model())
    first, second = submit(chain, retire_model()), submit(chain, retire_model())
    vote(chain, 0, first, YES)
    vote(chain, 0, second, YES)
    before = balance(chain, 0)
    finish_voting(chain)
    assert status(chain, first) == "PROPOSAL_STATUS_PASSED"
    failed = proposal(chain, second)
    assert failed["status"] == "PROPOSAL_STATUS_FAILED"
    assert "retired" in failed["execution_log"]
    assert balance(chain, 0) == before + 2 * MIN_DEPOSIT


# --- messages of any module, signed by the gov account -----------------------------------

def test_a_community_spend_moves_the_gov_accounts_coins_and_leaves_deposits_in_escrow() -> None:
    chain = Chain([10], GENESIS_STATE)
    fund_gov_account(chain, 50 * ICOIN)
    recipient_before, proposer_before = balance(chain, 100), balance(chain, 0)
    proposal_id = submit(chain, community_spend(account(100), 30 * ICOIN))
    assert chain.balance(escrow_address()) == MIN_DEPOSIT
    assert chain.balance(GOV) == 50 * ICOIN  # the deposit is not the gov account's
    assert vote(chain, 0, proposal_id, YES) == 0
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert balance(chain, 100) == recipient_before + 30 * ICOIN
    assert chain.balance(GOV) == 20 * ICOIN
    assert balance(chain, 0) == proposer_before  # deposit refunded from escrow
    assert chain.balance(escrow_address()) == 0
    assert chain.registry.check_invariants(chain.keeper_context()) == []


def test_a_community_spend_can_never_spend_deposits_held_in_escrow() -> None:
    """Two spends each within the gov account's funds when submitted: the second, executed
    after the first emptied the account, fails although escrow holds two deposits."""
    chain = Chain([10], GENESIS_STATE)
    fund_gov_account(chain, 30 * ICOIN)
    first = submit(chain, community_spend(account(100), 30 * ICOIN))
    second = submit(chain, community_spend(account(100), 30 * ICOIN))
    assert chain.balance(escrow_address()) == 2 * MIN_DEPOSIT
    vote(chain, 0, first, YES)
    vote(chain, 0, second, YES)
    finish_voting(chain)
    failed = proposal(chain, second)
    assert (status(chain, first), failed["status"]) == ("PROPOSAL_STATUS_PASSED",
                                                        "PROPOSAL_STATUS_FAILED")
    assert f"code {bank_errors.INSUFFICIENT_FUNDS.code}" in failed["execution_log"]
    assert chain.balance(GOV) == 0
    assert chain.balance(escrow_address()) == 0  # both deposits went back, none was spent


def test_a_proposal_executes_all_its_messages_or_none() -> None:
    chain = Chain([10], GENESIS_STATE)
    fund_gov_account(chain, 10 * ICOIN)
    pass_proposal(chain, register_model())
    retire_alone = submit(chain, retire_model())
    spend_and_retire = submit(chain, community_spend(account(100), 10 * ICOIN), retire_model())
    assert proposal(chain, spend_and_retire)["kind"] == "MsgSend,MsgRetireModel"
    recipient_before = balance(chain, 100)
    vote(chain, 0, retire_alone, YES)
    vote(chain, 0, spend_and_retire, YES)
    finish_voting(chain)
    failed = proposal(chain, spend_and_retire)
    assert failed["status"] == "PROPOSAL_STATUS_FAILED"
    assert "proposal message 1 (/race.v1.MsgRetireModel)" in failed["execution_log"]
    assert (balance(chain, 100), chain.balance(GOV)) == (recipient_before, 10 * ICOIN)


def test_a_text_proposal_carries_no_messages() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = pass_proposal(chain)
    stored = proposal(chain, proposal_id)
    assert (stored["kind"], stored["messages"], stored["status"]) == (
        "text", [], "PROPOSAL_STATUS_PASSED")


@pytest.mark.parametrize("inner", [
    gov_pb2.MsgSubmitProposal(proposer=GOV, title="nested", initial_deposit_nicoin=1),
    gov_pb2.MsgDeposit(depositor=GOV, proposal_id=1, amount_nicoin=1),
    gov_pb2.MsgVote(voter=GOV, proposal_id=1, option=YES),
], ids=lambda m: type(m).__name__)
def test_a_proposal_cannot_carry_gov_messages(inner: Message) -> None:
    chain = Chain([10], GENESIS_STATE)
    submit(chain)  # proposal 1 exists, so only the nesting is wrong
    outcome = try_submit(chain, update_params(("gov", "quorum_ppm", "400000")), inner)
    assert outcome.code == gov_errors.INVALID_PROPOSAL.code
    assert f"message 1 (/race.v1.{type(inner).__name__})" in outcome.log
    assert len(chain.query("/gov/proposals")["proposals"]) == 1


@pytest.mark.parametrize(("inner", "code"), [
    (community_spend(account(100), ICOIN), bank_errors.INSUFFICIENT_FUNDS.code),
    (bank_pb2.MsgSend(from_address=account(0), to_address=account(100), amount_nicoin=1),
     bank_errors.SIGNER_MISMATCH.code),
    (retire_model("no-such-model"), models_errors.MODEL_NOT_FOUND.code),
    (models_pb2.MsgRetireModel(authority=account(0), id=MODEL_ID),
     models_errors.GOVERNANCE_ONLY.code),
    (params_pb2.MsgUpdateParams(authority=account(0), changes=[
        params_pb2.ParamChange(module="gov", key="quorum_ppm", value="1")]),
     params_errors.GOVERNANCE_ONLY.code),
    # the gov account operates no validator, so it has no weight to vote a price with
    (pricing_pb2.MsgPriceVote(voter=GOV, price_per_unit_nicoin=5),
     pricing_errors.NO_VOTING_WEIGHT.code),
], ids=["send-unfunded", "send-not-gov", "retire-unknown", "retire-not-gov",
        "params-not-gov", "price-vote"])
def test_a_submission_whose_message_would_fail_keeps_the_messages_code(
        inner: Message, code: int) -> None:
    chain = Chain([10], GENESIS_STATE)
    before = balance(chain, 0)
    outcome = try_submit(chain, inner)
    assert outcome.code == code, outcome
    assert outcome.log.startswith(f"proposal message 0 (/{inner.DESCRIPTOR.full_name}): ")
    assert chain.query("/gov/proposals")["proposals"] == []
    assert balance(chain, 0) == before


def test_a_later_message_that_would_fail_is_named_by_its_index() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = try_submit(chain, register_model(), retire_model("no-such-model"))
    assert outcome.code == models_errors.MODEL_NOT_FOUND.code
    assert outcome.log.startswith("proposal message 1 (/race.v1.MsgRetireModel): ")
    assert chain.query("/models/list")["models"] == []  # the dry run left nothing behind


def test_a_message_of_an_unknown_type_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = try_submit(chain, AnyMessage(type_url="/race.v1.MsgMintForMe", value=b""))
    assert outcome.code == tx_errors.UNKNOWN_MESSAGE_TYPE.code
    assert "proposal message 0" in outcome.log


# --- deposits -------------------------------------------------------------------------

def test_deposits_are_refunded_when_a_proposal_passes() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    before = balance(chain, 0), balance(chain, 1)
    proposal_id = submit(chain, deposit=MIN_DEPOSIT // 2)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_DEPOSIT_PERIOD"
    assert chain.deliver(account(1), gov_pb2.MsgDeposit(
        depositor=account(1), proposal_id=proposal_id, amount_nicoin=MIN_DEPOSIT // 2)).ok
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_VOTING_PERIOD"
    assert balance(chain, 0) == before[0] - MIN_DEPOSIT // 2
    assert chain.balance(escrow_address()) == MIN_DEPOSIT
    assert chain.registry.check_invariants(chain.keeper_context()) == []
    vote(chain, 0, proposal_id, YES)
    vote(chain, 1, proposal_id, YES)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert (balance(chain, 0), balance(chain, 1)) == before


def test_deposits_are_refunded_when_a_proposal_is_rejected() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    before = balance(chain, 0)
    proposal_id = submit(chain)
    vote(chain, 1, proposal_id, NO)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_REJECTED"
    assert balance(chain, 0) == before


def test_deposits_are_burned_when_a_proposal_is_vetoed() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    before, supply_before = balance(chain, 0), supply(chain)
    proposal_id = submit(chain)
    vote(chain, 0, proposal_id, YES)
    vote(chain, 1, proposal_id, VETO)
    vote(chain, 2, proposal_id, YES)
    # veto 10 of 30 voted is 333,333 ppm: not more than 334,000, so this passes ...
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    second = submit(chain)
    vote(chain, 0, second, YES)
    vote(chain, 1, second, VETO)
    vote(chain, 2, second, VETO)
    finish_voting(chain)
    # ... and 20 of 30 vetoes: the deposit is destroyed.
    assert status(chain, second) == "PROPOSAL_STATUS_VETOED"
    assert balance(chain, 0) == before - MIN_DEPOSIT
    assert supply(chain) == supply_before - MIN_DEPOSIT
    assert chain.registry.check_invariants(chain.keeper_context()) == []


def test_deposits_are_burned_when_the_minimum_is_not_reached_in_time() -> None:
    chain = Chain([10], GENESIS_STATE)
    before, supply_before = balance(chain, 0), supply(chain)
    proposal_id = submit(chain, register_model(), deposit=10 * ICOIN)
    chain.advance_to(chain.height + DEPOSIT_PERIOD + 1)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_DEPOSIT_FAILED"
    assert balance(chain, 0) == before - 10 * ICOIN
    assert supply(chain) == supply_before - 10 * ICOIN
    assert chain.query("/models/list")["models"] == []


def test_an_initial_deposit_below_the_minimum_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = try_submit(chain, deposit=ICOIN - 1)
    assert outcome.code == gov_errors.INITIAL_DEPOSIT_TOO_LOW.code


def test_a_deposit_into_a_closed_proposal_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = pass_proposal(chain)
    outcome = chain.deliver(account(0), gov_pb2.MsgDeposit(
        depositor=account(0), proposal_id=proposal_id, amount_nicoin=ICOIN))
    assert outcome.code == gov_errors.PROPOSAL_CLOSED.code
    assert "passed" in outcome.log


def test_a_deposit_into_an_unknown_proposal_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = chain.deliver(account(0), gov_pb2.MsgDeposit(
        depositor=account(0), proposal_id=99, amount_nicoin=ICOIN))
    assert outcome.code == gov_errors.PROPOSAL_NOT_FOUND.code


# --- votes ----------------------------------------------------------------------------

def test_voting_without_weight_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain)
    assert vote(chain, 100, proposal_id, YES) == gov_errors.NO_VOTING_WEIGHT.code


def test_voting_twice_keeps_the_last_vote() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    proposal_id = submit(chain)
    vote(chain, 0, proposal_id, NO)
    vote(chain, 1, proposal_id, YES)
    outcome = chain.deliver(account(0), gov_pb2.MsgVote(
        voter=account(0), proposal_id=proposal_id, option=YES))
    assert outcome.ok
    assert outcome.attributes("proposal_vote")["replaced"] == "true"
    assert len(chain.query(f"/gov/votes/{proposal_id}")["votes"]) == 2
    finish_voting(chain)
    tally = chain.query(f"/gov/tally/{proposal_id}")
    assert (tally["tally"]["yes"], tally["tally"]["no"], tally["outcome"]) == ("20", "0", "passed")


def test_voting_before_the_voting_period_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, deposit=ICOIN)
    assert vote(chain, 0, proposal_id, YES) == gov_errors.NOT_IN_VOTING_PERIOD.code


def test_voting_after_the_voting_period_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain)
    finish_voting(chain)
    assert vote(chain, 0, proposal_id, YES) == gov_errors.PROPOSAL_CLOSED.code


def test_a_vote_in_the_last_block_of_the_voting_period_counts() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain)
    chain.advance_to(int(proposal(chain, proposal_id)["voting_end_height"]))
    assert vote(chain, 0, proposal_id, YES) == 0
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"


def test_quorum_missed_rejects_and_refunds() -> None:
    chain = Chain([10, 10, 10, 10], GENESIS_STATE)
    before = balance(chain, 0)
    proposal_id = submit(chain)
    vote(chain, 0, proposal_id, YES)  # 10 of 40 < 33.4 %
    finish_voting(chain)
    tally = chain.query(f"/gov/tally/{proposal_id}")
    assert (status(chain, proposal_id), tally["outcome"]) == ("PROPOSAL_STATUS_REJECTED",
                                                              "rejected")
    assert balance(chain, 0) == before


# --- chain params ---------------------------------------------------------------------

def test_a_param_change_applies_only_when_its_proposal_passes() -> None:
    chain = Chain([10], GENESIS_STATE)
    direct = update_params(("epochs", "epoch_length_blocks", "7"))
    direct.authority = account(0)
    assert chain.deliver(account(0), direct).code == params_errors.GOVERNANCE_ONLY.code
    direct.authority = GOV  # naming the gov account does not make the tx its
    assert chain.deliver(account(0), direct).code == params_errors.GOVERNANCE_ONLY.code
    proposal_id = submit(chain, update_params(("epochs", "epoch_length_blocks", "7"),
                                              ("gov", "voting_period_blocks", "9")))
    vote(chain, 0, proposal_id, YES)
    chain.advance_to(int(proposal(chain, proposal_id)["voting_end_height"]))
    assert chain.params("epochs").epoch_length_blocks == 1_000
    chain.end_block()  # the last block of the voting period
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert chain.params("epochs").epoch_length_blocks == 7
    assert chain.params("gov").voting_period_blocks == 9


def test_a_bad_param_change_is_refused_at_submission() -> None:
    chain = Chain([10], GENESIS_STATE)
    for change, code in [
        (("epochs", "epoch_length_blocks", "0"), epochs_errors.INVALID_PARAMS.code),
        (("epochs", "no_such_param", "1"), UNKNOWN_PARAM.code),
        (("nowhere", "x", "1"), params_errors.INVALID_CHANGE.code),
        (("gov", "threshold_ppm", "lots"), BAD_PARAM_VALUE.code),
    ]:
        outcome = try_submit(chain, update_params(change))
        assert outcome.code == code, (change, outcome)
    assert chain.query("/gov/proposals")["proposals"] == []


def test_a_param_change_is_all_or_nothing_at_execution() -> None:
    chain = Chain([10], GENESIS_STATE)
    # Each valid when submitted; once the first passes, the second's price change breaks the
    # rule genesis price <= maximum, so the second fails whole: its epoch change is not kept.
    first = submit(chain, update_params(("pricing", "max_price_per_unit_nicoin", "8")))
    second = submit(chain, update_params(("epochs", "epoch_length_blocks", "3"),
                                         ("pricing", "genesis_price_per_unit_nicoin", "9")))
    vote(chain, 0, first, YES)
    vote(chain, 0, second, YES)
    finish_voting(chain)
    assert (status(chain, first), status(chain, second)) == ("PROPOSAL_STATUS_PASSED",
                                                             "PROPOSAL_STATUS_FAILED")
    assert chain.params("pricing").max_price_per_unit_nicoin == 8
    assert chain.params("epochs").epoch_length_blocks == 1_000


def test_models_in_genesis_are_active_and_export_round_trips() -> None:
    model = {"id": "m1", "hf_repo": "org/m1", "revision": "abc", "units_of_compute_per_token": 3,
             "max_context": 128, "validation_threshold_ppm": 900_000, "owner": account(0)}
    retired = {**model, "id": "m0", "status": "retired"}
    chain = Chain([10], {**GENESIS_STATE, "models": {"models": [model, retired]}})
    assert chain.query("/models/pricing")["prices"] == [{
        "id": "m1", "units_of_compute_per_token": "3", "price_per_unit_nicoin": "7",
        "price_per_token_nicoin": "21"}]
    exported = chain.registry.module("models").export_genesis(chain.keeper_context())
    again = Chain([10], {**GENESIS_STATE, "models": exported})
    assert again.query("/models/list") == chain.query("/models/list")


def test_out_of_range_numbers_are_refused_with_codes() -> None:
    chain = Chain([10], GENESIS_STATE)
    huge = 2**64 - 1
    assert chain.deliver(account(0), gov_pb2.MsgDeposit(
        depositor=account(0), proposal_id=huge, amount_nicoin=1)).code == \
        gov_errors.INVALID_PROPOSAL.code
    assert chain.deliver(account(0), gov_pb2.MsgVote(
        voter=account(0), proposal_id=huge, option=YES)).code == gov_errors.INVALID_PROPOSAL.code
    assert try_submit(chain, register_model(units=huge)).code == \
        models_errors.INVALID_MODEL.code
    assert chain.deliver(account(0), gov_pb2.MsgDeposit(
        depositor=account(0), proposal_id=1, amount_nicoin=huge)).code == \
        gov_errors.INVALID_DEPOSIT.code


def test_a_boolean_param_is_written_as_true_or_false() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = pass_proposal(chain, update_params(("bank", "send_enabled", "false")))
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert chain.params("bank").send_enabled is False
