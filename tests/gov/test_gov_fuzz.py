"""Random governance, pricing and bank messages, alone or inside proposals, never crash the
app, and a refused one changes nothing but the signer's sequence."""

from __future__ import annotations

from typing import Any

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.core.authority import governance_authority
from abci_app.core.errors import INTERNAL
from abci_app.modules.gov import keeper as gov_keeper
from abci_app.modules.gov.escrow import escrow_address
from abci_app.tx.codec import pack
from race_protocol.gen.race.v1 import bank_pb2, gov_pb2, models_pb2, params_pb2, pricing_pb2
from tests.gov.harness import ICOIN, Chain, account

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
TEXT = st.text(max_size=40)
ADDRESSES = st.sampled_from([account(0), account(1), account(100), governance_authority(),
                             escrow_address(), "", "race1xyz", "x"])
SIGNERS = st.sampled_from([account(0), account(1), account(100)])
SOURCES = st.builds(models_pb2.ModelSource, hf_repo=st.sampled_from(["a/b", "", "x"]) | TEXT,
                    revision=TEXT)
REGISTER = st.builds(models_pb2.MsgRegisterModel, authority=ADDRESSES,
                     id=st.sampled_from(["m", "M", "", "a/b"]) | TEXT, source=SOURCES,
                     units_of_compute_per_token=UINT64, max_context=UINT64,
                     validation_threshold_ppm=UINT64, owner=ADDRESSES)
RETIRE = st.builds(models_pb2.MsgRetireModel, authority=ADDRESSES, id=TEXT)
UPDATE = st.builds(models_pb2.MsgUpdateModelParams, authority=ADDRESSES, id=TEXT,
                   units_of_compute_per_token=UINT64, max_context=UINT64,
                   validation_threshold_ppm=UINT64)
CHANGES = st.lists(st.builds(params_pb2.ParamChange,
                             module=st.sampled_from(["gov", "epochs", "pricing", "bank", "x",
                                                     ""]),
                             key=st.sampled_from(["quorum_ppm", "epoch_length_blocks",
                                                  "send_enabled", "z"]),
                             value=st.sampled_from(["1", "-1", "0", "abc", "false",
                                                    str(2**70)])),
                   max_size=3)
UPDATE_PARAMS = st.builds(params_pb2.MsgUpdateParams, authority=ADDRESSES, changes=CHANGES)
SEND = st.builds(bank_pb2.MsgSend, from_address=ADDRESSES, to_address=ADDRESSES,
                 amount_nicoin=st.sampled_from([1, ICOIN]) | UINT64)
PRICE_VOTE = st.builds(pricing_pb2.MsgPriceVote, voter=ADDRESSES, price_per_unit_nicoin=UINT64)
DEPOSIT = st.builds(gov_pb2.MsgDeposit, depositor=ADDRESSES, proposal_id=UINT64,
                    amount_nicoin=UINT64)
VOTE = st.builds(gov_pb2.MsgVote, voter=ADDRESSES, proposal_id=UINT64,
                 option=st.integers(min_value=0, max_value=6))
# What a proposal may carry: any module's message, gov's own (always refused), or an Any
# that names no routed type or does not decode.
INNER = st.one_of(
    st.one_of(REGISTER, RETIRE, UPDATE, UPDATE_PARAMS, SEND, PRICE_VOTE, DEPOSIT, VOTE,
              st.builds(gov_pb2.MsgSubmitProposal, proposer=ADDRESSES, title=TEXT)).map(pack),
    st.builds(AnyMessage, type_url=st.sampled_from(["/race.v1.MsgSend", "/race.v1.Nothing",
                                                    ""]),
              value=st.binary(max_size=16)),
)
SUBMIT = st.builds(gov_pb2.MsgSubmitProposal, proposer=ADDRESSES, title=TEXT, summary=TEXT,
                   messages=st.lists(INNER, max_size=3),
                   initial_deposit_nicoin=st.sampled_from([1, 10]) | UINT64)
MESSAGES = st.one_of(PRICE_VOTE, SUBMIT, DEPOSIT, VOTE, UPDATE_PARAMS, REGISTER, RETIRE, UPDATE,
                     SEND)


# Well-formed proposals, deposits and votes (the signer's own), so that many are accepted,
# pass or fail, and execute.
GOV_MESSAGES = st.one_of(
    st.builds(models_pb2.MsgRegisterModel, authority=st.just(governance_authority()),
              id=st.sampled_from(["m1", "m2"]),
              source=st.just(models_pb2.ModelSource(hf_repo="org/m", revision="main")),
              units_of_compute_per_token=st.integers(1, 5), max_context=st.just(64),
              validation_threshold_ppm=st.just(990_000), owner=SIGNERS),
    st.builds(models_pb2.MsgRetireModel, authority=st.just(governance_authority()),
              id=st.sampled_from(["m1", "m2"])),
    st.builds(params_pb2.MsgUpdateParams, authority=st.just(governance_authority()),
              changes=st.sampled_from([("gov", "quorum_ppm", "400000"),
                                       ("bank", "send_enabled", "false"),
                                       ("bank", "send_enabled", "true"),
                                       ("gov", "voting_period_blocks", "3")]).map(
                  lambda c: [params_pb2.ParamChange(module=c[0], key=c[1], value=c[2])])),
    st.builds(bank_pb2.MsgSend, from_address=st.just(governance_authority()),
              to_address=SIGNERS, amount_nicoin=st.sampled_from([1, ICOIN // 2, ICOIN])),
)


def submission_by(signer: str) -> st.SearchStrategy[tuple[str, Message]]:
    """``signer`` submits a proposal carrying up to two well-formed messages."""
    return st.tuples(st.just(signer), st.builds(
        gov_pb2.MsgSubmitProposal, proposer=st.just(signer), title=st.just("p"),
        messages=st.lists(GOV_MESSAGES.map(pack), max_size=2),
        initial_deposit_nicoin=st.sampled_from([1, 10])))


def follow_up_by(signer: str) -> st.SearchStrategy[tuple[str, Message]]:
    """A deposit or vote by ``signer``; its ``proposal_id`` counts back from the newest
    proposal (0: the newest), see :func:`aim`."""
    recent = st.sampled_from([0, 0, 0, 1, 2])
    return st.tuples(st.just(signer), st.one_of(
        st.builds(gov_pb2.MsgDeposit, depositor=st.just(signer), proposal_id=recent,
                  amount_nicoin=st.integers(min_value=1, max_value=10)),
        st.builds(gov_pb2.MsgVote, voter=st.just(signer), proposal_id=recent,
                  option=st.sampled_from([gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_YES,
                                          gov_pb2.VOTE_OPTION_NO,
                                          gov_pb2.VOTE_OPTION_ABSTAIN,
                                          gov_pb2.VOTE_OPTION_NO_WITH_VETO])),
    ))


def funded_chain(gov_params: dict[str, int]) -> Chain:
    """Two validators, and a gov account holding coins a proposal could spend."""
    chain = Chain([10, 10], {"gov": {"params": {"min_deposit_nicoin": 10,
                                                "min_initial_deposit_nicoin": 1,
                                                **gov_params}}})
    funded = chain.deliver(account(100), bank_pb2.MsgSend(
        from_address=account(100), to_address=governance_authority(),
        amount_nicoin=1_000 * ICOIN))
    assert funded.ok, funded.log
    return chain


def aim(chain: Chain, message: Message) -> Message:
    """A deposit or vote of :func:`follow_up_by` pointed at a recent proposal."""
    if isinstance(message, (gov_pb2.MsgDeposit, gov_pb2.MsgVote)):
        newest = gov_keeper.peek_next_proposal_id(chain.keeper_context()) - 1
        message.proposal_id = max(1, newest - message.proposal_id)
    return message


# Periods longer than the run: no proposal closes, so only txs change state.
STILL = funded_chain({})
# Short periods: proposals close and execute while the run goes on.
BUSY = funded_chain({"max_deposit_period_blocks": 3, "voting_period_blocks": 5})


def state_without_sequences(chain: Chain) -> dict[str, Any]:
    """Every module's exported state except auth's (a refused tx still uses a sequence)."""
    exported = chain.registry.export_genesis(chain.keeper_context())
    exported.pop("auth")
    return exported


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, SIGNERS)
def test_messages_never_crash_and_refusals_change_nothing(message: Message,
                                                          signer: str) -> None:
    before = state_without_sequences(STILL)
    outcome = STILL.deliver(signer, message)
    assert outcome.code != INTERNAL.code, outcome.log
    if not outcome.ok:
        assert outcome.log
        assert state_without_sequences(STILL) == before
    assert STILL.registry.check_invariants(STILL.keeper_context()) == []


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SIGNERS.flatmap(submission_by), st.lists(SIGNERS.flatmap(follow_up_by), max_size=4),
       st.sampled_from([0, 1, 2]))
def test_proposals_that_close_and_execute_keep_the_invariants(
        submission: tuple[str, Message], follow_ups: list[tuple[str, Message]],
        empty_blocks: int) -> None:
    for signer, message in [submission, *follow_ups]:
        assert BUSY.deliver(signer, aim(BUSY, message)).code != INTERNAL.code
    BUSY.advance_to(BUSY.height + empty_blocks)
    assert BUSY.registry.check_invariants(BUSY.keeper_context()) == []
