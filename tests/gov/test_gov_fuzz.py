"""Random governance and pricing messages never raise, and a refused one changes nothing."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_protocol.gen.race.v1 import gov_pb2, models_pb2, pricing_pb2
from tests.gov.harness import Chain, account

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
TEXT = st.text(max_size=40)
ADDRESSES = st.sampled_from([account(0), account(1), account(100), "", "race1xyz", "x"])
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
CHANGES = st.lists(st.builds(gov_pb2.ParamChange,
                             module=st.sampled_from(["gov", "epochs", "pricing", "x", ""]),
                             key=st.sampled_from(["quorum_ppm", "epoch_length_blocks", "z"]),
                             value=st.sampled_from(["1", "-1", "0", "abc", str(2**70)])),
                   max_size=3)
UPDATE_PARAMS = st.builds(gov_pb2.MsgUpdateParams, authority=ADDRESSES, changes=CHANGES)
CONTENT = st.one_of(
    st.builds(gov_pb2.ProposalContent, text=st.builds(gov_pb2.TextProposal)),
    st.builds(gov_pb2.ProposalContent, register_model=REGISTER),
    st.builds(gov_pb2.ProposalContent, retire_model=RETIRE),
    st.builds(gov_pb2.ProposalContent, update_model_params=UPDATE),
    st.builds(gov_pb2.ProposalContent, update_params=UPDATE_PARAMS),
    st.just(gov_pb2.ProposalContent()),
)
MESSAGES = st.one_of(
    st.builds(pricing_pb2.MsgPriceVote, voter=ADDRESSES, price_per_unit_nicoin=UINT64),
    st.builds(gov_pb2.MsgSubmitProposal, proposer=ADDRESSES, title=TEXT, summary=TEXT,
              content=CONTENT, initial_deposit_nicoin=UINT64),
    st.builds(gov_pb2.MsgDeposit, depositor=ADDRESSES, proposal_id=UINT64,
              amount_nicoin=UINT64),
    st.builds(gov_pb2.MsgVote, voter=ADDRESSES, proposal_id=UINT64,
              option=st.integers(min_value=0, max_value=6)),
    UPDATE_PARAMS, REGISTER, RETIRE, UPDATE,
)
CHAIN = Chain([10, 10], {"gov": {"params": {"min_deposit_nicoin": 10,
                                            "min_initial_deposit_nicoin": 1}}})


def snapshot() -> dict[str, dict]:
    """Every pending write of the chain, by table name (Table objects do not deep-copy)."""
    return {table.name: copy.deepcopy(writes) for table, writes in CHAIN.state.writes.items()}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, st.sampled_from([account(0), account(1), account(100)]))
def test_messages_never_raise_and_refusals_change_nothing(message, signer: str) -> None:
    before = snapshot()
    outcome = CHAIN.deliver(signer, message)
    if outcome.code != 0:
        assert snapshot() == before
        assert outcome.log
    CHAIN.end_block()
    assert CHAIN.registry.check_invariants(CHAIN.keeper_context()) == []
