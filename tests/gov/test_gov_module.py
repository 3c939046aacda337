"""Proposals on chain: deposits, votes, tallies, execution, and the txs that are refused."""

from race_protocol.gen.race.v1 import gov_pb2, models_pb2
from abci_app.modules.bank import keeper as bank
from abci_app.modules.gov import errors as gov_errors
from abci_app.modules.gov.escrow import authority_address
from abci_app.modules.models import errors as models_errors
from tests.gov.harness import ICOIN, Chain, account

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


def register_content(model_id: str = "smollm2-135m", units: int = 1_000) -> gov_pb2.ProposalContent:
    return gov_pb2.ProposalContent(register_model=models_pb2.MsgRegisterModel(
        id=model_id,
        source=models_pb2.ModelSource(hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
                                      revision="main"),
        units_of_compute_per_token=units, max_context=2048, validation_threshold_ppm=990_000))


def submit(chain: Chain, content: gov_pb2.ProposalContent, deposit: int = MIN_DEPOSIT,
           proposer: int = 0) -> int:
    outcome = chain.deliver(account(proposer), gov_pb2.MsgSubmitProposal(
        proposer=account(proposer), title="a proposal", summary="why", content=content,
        initial_deposit_nicoin=deposit))
    assert outcome.code == 0, outcome.log
    return int(outcome.attributes("submit_proposal")["proposal_id"])


def vote(chain: Chain, voter: int, proposal_id: int, option: int) -> int:
    return chain.deliver(account(voter), gov_pb2.MsgVote(
        voter=account(voter), proposal_id=proposal_id, option=option)).code


def status(chain: Chain, proposal_id: int) -> str:
    return chain.query(f"/gov/proposal/{proposal_id}")["proposal"]["status"]


def balance(chain: Chain, index: int) -> int:
    return bank.balance(chain.keeper_context(), account(index))


def supply(chain: Chain) -> int:
    return bank.supply(chain.keeper_context())


def finish_voting(chain: Chain) -> None:
    chain.advance_to(chain.height + VOTING + 1)


# --- the model registry through governance ---------------------------------------------

def test_a_passed_register_proposal_activates_the_model_with_its_price_per_token() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    proposal_id = submit(chain, register_content(units=1_000))
    assert chain.query("/models/model/smollm2-135m")["model"]["status"] == "MODEL_STATUS_PROPOSED"
    for voter in (0, 1):
        assert vote(chain, voter, proposal_id, YES) == 0
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    answer = chain.query("/models/model/smollm2-135m")
    assert answer["model"]["status"] == "MODEL_STATUS_ACTIVE"
    assert answer["model"]["owner"] == account(0)
    assert answer["price_per_token_nicoin"] == str(1_000 * 7)
    assert chain.query("/models/pricing")["prices"][0]["price_per_token_nicoin"] == "7000"


def test_a_rejected_register_proposal_frees_the_model_id() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    proposal_id = submit(chain, register_content())
    for voter in (0, 1):
        vote(chain, voter, proposal_id, NO)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_REJECTED"
    assert chain.query("/models/list")["models"] == []
    submit(chain, register_content())  # the id can be proposed again


def test_registering_a_model_directly_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    content = register_content()
    direct = models_pb2.MsgRegisterModel()
    direct.CopyFrom(content.register_model)
    direct.authority = account(0)
    outcome = chain.deliver(account(0), direct)
    assert outcome.code == models_errors.GOVERNANCE_ONLY.code
    assert "race gov propose model" in outcome.log
    direct.authority = authority_address()  # claiming the gov authority does not help
    assert chain.deliver(account(0), direct).code == models_errors.GOVERNANCE_ONLY.code
    assert chain.query("/models/list")["models"] == []


def test_a_model_id_in_use_cannot_be_proposed_twice() -> None:
    chain = Chain([10], GENESIS_STATE)
    submit(chain, register_content())
    outcome = chain.deliver(account(0), gov_pb2.MsgSubmitProposal(
        proposer=account(0), title="again", content=register_content(),
        initial_deposit_nicoin=MIN_DEPOSIT))
    assert outcome.code == models_errors.MODEL_EXISTS.code


def test_retire_and_update_proposals_change_an_active_model() -> None:
    chain = Chain([10], GENESIS_STATE)
    first = submit(chain, register_content(units=50))
    vote(chain, 0, first, YES)
    finish_voting(chain)
    update = submit(chain, gov_pb2.ProposalContent(update_model_params=(
        models_pb2.MsgUpdateModelParams(id="smollm2-135m", units_of_compute_per_token=80))))
    vote(chain, 0, update, YES)
    finish_voting(chain)
    assert chain.query("/models/model/smollm2-135m")["price_per_token_nicoin"] == str(80 * 7)
    retire = submit(chain, gov_pb2.ProposalContent(
        retire_model=models_pb2.MsgRetireModel(id="smollm2-135m")))
    vote(chain, 0, retire, YES)
    finish_voting(chain)
    assert chain.query("/models/list/retired")["models"][0]["id"] == "smollm2-135m"
    assert chain.query("/models/pricing")["prices"] == []


def test_a_passed_proposal_that_cannot_execute_fails_and_refunds() -> None:
    chain = Chain([10], GENESIS_STATE)
    registered = submit(chain, register_content())
    vote(chain, 0, registered, YES)
    finish_voting(chain)
    retire = gov_pb2.ProposalContent(retire_model=models_pb2.MsgRetireModel(id="smollm2-135m"))
    first, second = submit(chain, retire), submit(chain, retire)
    vote(chain, 0, first, YES)
    vote(chain, 0, second, YES)
    before = balance(chain, 0)
    finish_voting(chain)
    assert status(chain, first) == "PROPOSAL_STATUS_PASSED"
    failed = chain.query(f"/gov/proposal/{second}")["proposal"]
    assert failed["status"] == "PROPOSAL_STATUS_FAILED"
    assert "retired" in failed["execution_log"]
    assert balance(chain, 0) == before + 2 * MIN_DEPOSIT


# --- deposits -------------------------------------------------------------------------

def test_deposits_are_refunded_when_a_proposal_passes() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    before = balance(chain, 0), balance(chain, 1)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()),
                         deposit=MIN_DEPOSIT // 2)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_DEPOSIT_PERIOD"
    assert chain.deliver(account(1), gov_pb2.MsgDeposit(
        depositor=account(1), proposal_id=proposal_id, amount_nicoin=MIN_DEPOSIT // 2)).code == 0
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_VOTING_PERIOD"
    assert balance(chain, 0) == before[0] - MIN_DEPOSIT // 2
    assert chain.registry.check_invariants(chain.keeper_context()) == []
    vote(chain, 0, proposal_id, YES)
    vote(chain, 1, proposal_id, YES)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert (balance(chain, 0), balance(chain, 1)) == before


def test_deposits_are_refunded_when_a_proposal_is_rejected() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    before = balance(chain, 0)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    vote(chain, 1, proposal_id, NO)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_REJECTED"
    assert balance(chain, 0) == before


def test_deposits_are_burned_when_a_proposal_is_vetoed() -> None:
    chain = Chain([10, 10, 10], GENESIS_STATE)
    before, supply_before = balance(chain, 0), supply(chain)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    vote(chain, 0, proposal_id, YES)
    vote(chain, 1, proposal_id, VETO)
    vote(chain, 2, proposal_id, YES)
    # veto 10 of 30 voted is 333,333 ppm: not more than 334,000, so this passes ...
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    second = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
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
    proposal_id = submit(chain, register_content(), deposit=10 * ICOIN)
    chain.advance_to(chain.height + DEPOSIT_PERIOD + 1)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_DEPOSIT_FAILED"
    assert balance(chain, 0) == before - 10 * ICOIN
    assert supply(chain) == supply_before - 10 * ICOIN
    assert chain.query("/models/list")["models"] == []


def test_an_initial_deposit_below_the_minimum_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    outcome = chain.deliver(account(0), gov_pb2.MsgSubmitProposal(
        proposer=account(0), title="cheap", content=gov_pb2.ProposalContent(
            text=gov_pb2.TextProposal()), initial_deposit_nicoin=ICOIN - 1))
    assert outcome.code == gov_errors.INITIAL_DEPOSIT_TOO_LOW.code


def test_a_deposit_into_a_closed_proposal_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    vote(chain, 0, proposal_id, YES)
    finish_voting(chain)
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
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    assert vote(chain, 100, proposal_id, YES) == gov_errors.NO_VOTING_WEIGHT.code


def test_voting_twice_keeps_the_last_vote() -> None:
    chain = Chain([10, 10], GENESIS_STATE)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    vote(chain, 0, proposal_id, NO)
    vote(chain, 1, proposal_id, YES)
    outcome = chain.deliver(account(0), gov_pb2.MsgVote(
        voter=account(0), proposal_id=proposal_id, option=YES))
    assert outcome.code == 0
    assert outcome.attributes("proposal_vote")["replaced"] == "true"
    assert len(chain.query(f"/gov/votes/{proposal_id}")["votes"]) == 2
    finish_voting(chain)
    tally = chain.query(f"/gov/tally/{proposal_id}")
    assert (tally["tally"]["yes"], tally["tally"]["no"], tally["outcome"]) == ("20", "0", "passed")


def test_voting_before_the_voting_period_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()),
                         deposit=ICOIN)
    assert vote(chain, 0, proposal_id, YES) == gov_errors.NOT_IN_VOTING_PERIOD.code


def test_voting_after_the_voting_period_is_refused() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    finish_voting(chain)
    assert vote(chain, 0, proposal_id, YES) == gov_errors.PROPOSAL_CLOSED.code


def test_quorum_missed_rejects_and_refunds() -> None:
    chain = Chain([10, 10, 10, 10], GENESIS_STATE)
    before = balance(chain, 0)
    proposal_id = submit(chain, gov_pb2.ProposalContent(text=gov_pb2.TextProposal()))
    vote(chain, 0, proposal_id, YES)  # 10 of 40 < 33.4 %
    finish_voting(chain)
    tally = chain.query(f"/gov/tally/{proposal_id}")
    assert (status(chain, proposal_id), tally["outcome"]) == ("PROPOSAL_STATUS_REJECTED",
                                                              "rejected")
    assert balance(chain, 0) == before


# --- chain params ---------------------------------------------------------------------

def param_content(*changes: tuple[str, str, str]) -> gov_pb2.ProposalContent:
    return gov_pb2.ProposalContent(update_params=gov_pb2.MsgUpdateParams(changes=[
        gov_pb2.ParamChange(module=m, key=k, value=v) for m, k, v in changes]))


def test_a_param_change_applies_only_when_its_proposal_passes() -> None:
    chain = Chain([10], GENESIS_STATE)
    direct = gov_pb2.MsgUpdateParams(authority=account(0), changes=[
        gov_pb2.ParamChange(module="epochs", key="epoch_length_blocks", value="7")])
    assert chain.deliver(account(0), direct).code == gov_errors.GOVERNANCE_ONLY.code
    proposal_id = submit(chain, param_content(("epochs", "epoch_length_blocks", "7"),
                                              ("gov", "voting_period_blocks", "9")))
    vote(chain, 0, proposal_id, YES)
    chain.advance_to(chain.height + VOTING)
    assert chain.params("epochs").epoch_length_blocks == 1_000
    chain.end_block()
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert chain.params("epochs").epoch_length_blocks == 7
    assert chain.params("gov").voting_period_blocks == 9


def test_a_bad_param_change_is_refused_at_submission() -> None:
    chain = Chain([10], GENESIS_STATE)
    for change, code in [
        (("epochs", "epoch_length_blocks", "0"), 400),
        (("epochs", "no_such_param", "1"), 11),
        (("nowhere", "x", "1"), gov_errors.INVALID_PROPOSAL.code),
        (("gov", "threshold_ppm", "lots"), 12),
    ]:
        outcome = chain.deliver(account(0), gov_pb2.MsgSubmitProposal(
            proposer=account(0), title="bad", content=param_content(change),
            initial_deposit_nicoin=MIN_DEPOSIT))
        assert outcome.code == code, (change, outcome)
    assert chain.query("/gov/proposals")["proposals"] == []


def test_a_param_change_is_all_or_nothing_at_execution() -> None:
    chain = Chain([10], GENESIS_STATE)
    # Each valid when submitted; once the first passes, the second's price change breaks the
    # rule genesis price <= maximum, so the second fails whole: its epoch change is not kept.
    first = submit(chain, param_content(("pricing", "max_price_per_unit_nicoin", "8")))
    second = submit(chain, param_content(("epochs", "epoch_length_blocks", "3"),
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
    assert chain.deliver(account(0), gov_pb2.MsgSubmitProposal(
        proposer=account(0), title="big", content=register_content(units=huge),
        initial_deposit_nicoin=MIN_DEPOSIT)).code == models_errors.INVALID_MODEL.code
    assert chain.deliver(account(0), gov_pb2.MsgDeposit(
        depositor=account(0), proposal_id=1, amount_nicoin=huge)).code == \
        gov_errors.INVALID_DEPOSIT.code


def test_a_boolean_param_is_written_as_true_or_false() -> None:
    chain = Chain([10], GENESIS_STATE)
    proposal_id = submit(chain, param_content(("bank", "send_enabled", "false")))
    vote(chain, 0, proposal_id, YES)
    finish_voting(chain)
    assert status(chain, proposal_id) == "PROPOSAL_STATUS_PASSED"
    assert chain.params("bank").send_enabled is False
