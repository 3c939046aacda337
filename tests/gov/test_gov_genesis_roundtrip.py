"""Gov genesis: a chain exported mid-vote re-imports to the same app hash and carries on.

Two real apps are driven block by block with signed txs: the original chain, and a copy
started from its export at the next height. Both then run the same blocks, and every block
must hash the same on both while the open proposals close exactly as on the original.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

import abci_app.tx as txlib
from abci_app.app import RaceApp
from race_protocol.gen.race.v1 import gov_pb2, models_pb2
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from abci_app.genesis import GenesisError, build_app_state, validate_app_state
from abci_app.core.context import BlockInfo, Context
from abci_app.modules.gov.escrow import authority_address
from abci_app.modules.models import keeper as models
from abci_app.store import CommittedState, Overlay
from tests.chain.conftest import (
    CHAIN_ID,
    GENESIS_BALANCE,
    GENESIS_TIME_S,
    VALIDATOR_KEY,
    Chain,
    address_of,
    key_from_seed,
)

ICOIN = 10**9
MIN_DEPOSIT = 1_000 * ICOIN
DEPOSIT_BLOCKS = 6
VOTING_BLOCKS = 4
SECOND_VALIDATOR_KEY = txlib.public_key_bytes(key_from_seed(9998))
VALIDATORS = [(VALIDATOR_KEY, 10), (SECOND_VALIDATOR_KEY, 5)]
YES, NO = gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_NO
EXPORT_HEIGHT = 7


def _validator_updates() -> list[abci.ValidatorUpdate]:
    return [abci.ValidatorUpdate(pub_key={"ed25519": key}, power=power)
            for key, power in VALIDATORS]


def _genesis_state(keys: list[Any]) -> dict[str, Any]:
    """Accounts 0 and 1 operate the two validators (weights 10 and 5); account 2 has none."""
    return build_app_state(
        {address_of(k): GENESIS_BALANCE for k in keys},
        params={
            "epochs": {"epoch_length_blocks": 1_000},
            "gov": {"min_deposit_nicoin": MIN_DEPOSIT, "min_initial_deposit_nicoin": ICOIN,
                    "max_deposit_period_blocks": DEPOSIT_BLOCKS,
                    "voting_period_blocks": VOTING_BLOCKS},
        },
        operators={VALIDATOR_KEY.hex(): address_of(keys[0]),
                   SECOND_VALIDATOR_KEY.hex(): address_of(keys[1])},
    )


def _init(app: RaceApp, state: dict[str, Any], height: int) -> bytes:
    response = app.init_chain(abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(state).encode(), initial_height=height,
        time={"seconds": GENESIS_TIME_S + height - 1}, validators=_validator_updates()))
    return bytes(response.app_hash)


def _block(app: RaceApp, height: int, txs: list[bytes]) -> bytes:
    """FinalizeBlock then Commit at ``height``; every tx must succeed. Returns the app hash."""
    response = app.finalize_block(abci.RequestFinalizeBlock(
        txs=txs, height=height, time={"seconds": GENESIS_TIME_S + height},
        hash=height.to_bytes(32, "big")))
    for result in response.tx_results:
        assert result.code == 0, result.log
    app.commit(abci.RequestCommit())
    return bytes(response.app_hash)


def _query(app: RaceApp, path: str) -> Any:
    response = app.query(abci.RequestQuery(path=path))
    assert response.code == 0, response.log
    return json.loads(response.value)


def _submit(chain: Chain, sender: int, content: gov_pb2.ProposalContent, deposit: int) -> bytes:
    proposer = chain.addresses[sender]
    return chain.signed(sender, [gov_pb2.MsgSubmitProposal(
        proposer=proposer, title=f"proposal by {sender}", summary="why", content=content,
        initial_deposit_nicoin=deposit)])


def _deposit(chain: Chain, sender: int, proposal_id: int, amount: int) -> bytes:
    return chain.signed(sender, [gov_pb2.MsgDeposit(
        proposal_id=proposal_id, depositor=chain.addresses[sender], amount_nicoin=amount)])


def _vote(chain: Chain, sender: int, proposal_id: int, option: int) -> bytes:
    return chain.signed(sender, [gov_pb2.MsgVote(
        proposal_id=proposal_id, voter=chain.addresses[sender], option=option)])


TEXT = gov_pb2.ProposalContent(text=gov_pb2.TextProposal())
RAISE_QUORUM = gov_pb2.ProposalContent(update_params=gov_pb2.MsgUpdateParams(
    changes=[gov_pb2.ParamChange(module="gov", key="quorum_ppm", value="400000")]))
REGISTER = gov_pb2.ProposalContent(register_model=models_pb2.MsgRegisterModel(
    id="smollm2-135m",
    source=models_pb2.ModelSource(hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct", revision="main"),
    units_of_compute_per_token=1_000, max_context=2048, validation_threshold_ppm=990_000))


@pytest.fixture(scope="module")
def mid_vote() -> Iterator[tuple[Chain, dict[str, Any]]]:
    """The original chain at height 7 and its export.

    1 (text, full deposit) passed at height 6 with a final tally; 2 (text, 1 icoin) is in its
    deposit period until 8; 3 (param change) is voting until 8, yes 10 against no 5; 4
    (register model) is in its deposit period until 11 and holds its model id.
    """
    keys = [key_from_seed(i + 1) for i in range(3)]
    app = RaceApp(None)
    _init(app, _genesis_state(keys), 1)
    chain = Chain(app, keys)
    blocks: dict[int, list[bytes]] = {
        2: [_submit(chain, 0, TEXT, MIN_DEPOSIT), _submit(chain, 2, TEXT, ICOIN)],
        3: [_submit(chain, 0, RAISE_QUORUM, 400 * ICOIN), _vote(chain, 0, 1, YES)],
        4: [_deposit(chain, 1, 3, 600 * ICOIN)],
        5: [_vote(chain, 0, 3, YES), _vote(chain, 1, 3, NO),
            _submit(chain, 2, REGISTER, ICOIN)],
    }
    for height in range(1, EXPORT_HEIGHT + 1):
        _block(app, height, blocks.get(height, []))
    exported = app.registry.export_genesis(app._query_context())
    yield chain, exported
    app.close()


def test_export_carries_every_proposal_deposit_and_vote(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    chain, exported = mid_vote
    gov = exported["gov"]
    statuses = {p["id"]: p["status"] for p in gov["proposals"]}
    assert statuses == {"1": "PROPOSAL_STATUS_PASSED", "2": "PROPOSAL_STATUS_DEPOSIT_PERIOD",
                        "3": "PROPOSAL_STATUS_VOTING_PERIOD",
                        "4": "PROPOSAL_STATUS_DEPOSIT_PERIOD"}
    assert gov["next_proposal_id"] == "5"
    third = gov["proposals"][2]
    assert third["content"]["update_params"]["changes"][0]["key"] == "quorum_ppm"
    assert (third["voting_start_height"], third["voting_end_height"]) == ("4", "8")
    assert gov["proposals"][0]["final_tally"]["yes"] == "10"
    deposits = {(d["proposal_id"], d["depositor"]): d["amount_nicoin"] for d in gov["deposits"]}
    assert deposits[("3", chain.addresses[0])] == str(400 * ICOIN)
    assert deposits[("3", chain.addresses[1])] == str(600 * ICOIN)
    assert len(deposits) == 5  # 1, 2 and 4 by their proposers; 3 by accounts 0 and 1
    votes = {(v["proposal_id"], v["voter"]): v["option"] for v in gov["votes"]}
    assert votes == {("1", chain.addresses[0]): "VOTE_OPTION_YES",
                     ("3", chain.addresses[0]): "VOTE_OPTION_YES",
                     ("3", chain.addresses[1]): "VOTE_OPTION_NO"}
    validate_app_state(exported, VALIDATORS)


def test_reimport_has_same_app_hash_and_the_proposals_close_as_on_the_original() -> None:
    """Runs both chains past every open deadline, comparing each block's hash."""
    keys = [key_from_seed(i + 1) for i in range(3)]
    original = RaceApp(None)
    _init(original, _genesis_state(keys), 1)
    chain = Chain(original, keys)
    blocks: dict[int, list[bytes]] = {
        2: [_submit(chain, 0, TEXT, MIN_DEPOSIT), _submit(chain, 2, TEXT, ICOIN)],
        3: [_submit(chain, 0, RAISE_QUORUM, 400 * ICOIN), _vote(chain, 0, 1, YES)],
        4: [_deposit(chain, 1, 3, 600 * ICOIN)],
        5: [_vote(chain, 0, 3, YES), _vote(chain, 1, 3, NO),
            _submit(chain, 2, REGISTER, ICOIN)],
    }
    for height in range(1, EXPORT_HEIGHT + 1):
        _block(original, height, blocks.get(height, []))
    exported = original.registry.export_genesis(original._query_context())
    gov_account = authority_address()
    escrowed = _query(original, f"/bank/balance/{gov_account}")["amount"]
    assert int(escrowed) == MIN_DEPOSIT + ICOIN + ICOIN  # proposals 2, 3 and 4

    # Gov state does not depend on the genesis height: a chain restarted at the next height
    # holds the same gov rows and exports the same section.
    restarted = RaceApp(None)
    try:
        _init(restarted, exported, EXPORT_HEIGHT + 1)
        assert _gov_rows(restarted.block_state) == _gov_rows(
            Overlay(original.committed, read_only=True))
        assert _export_uncommitted(restarted)["gov"] == \
            exported["gov"]
    finally:
        restarted.close()

    # The app hash, as in tests/chain's round trip, at genesis height 1 (the epochs and
    # pricing modules start their current epoch at the genesis height); the first block
    # then comes at the original chain's next height.
    imported = RaceApp(None)
    try:
        assert _init(imported, exported, 1) == original.committed.app_hash
        assert _export_uncommitted(imported) == exported
        # Proposal 4 still holds its model id (the models section exports no proposed ids).
        genesis_ctx = Context("query", BlockInfo(0, 0, CHAIN_ID), imported.block_state,
                              imported.registry)
        reserved = models.get_model(genesis_ctx, "smollm2-135m")
        assert reserved is not None and reserved.status == models.PROPOSED
        assert (reserved.proposal_id, reserved.updated_height) == (4, 5)

        # The same blocks on both chains: account 1 switches to yes at 8, when 2 and 3 close;
        # 4's deposit period ends at 11.
        later = {EXPORT_HEIGHT + 1: [_vote(chain, 1, 3, YES)]}
        for height in range(EXPORT_HEIGHT + 1, 12):
            txs = later.get(height, [])
            assert _block(original, height, txs) == _block(imported, height, txs), height

        for app in (original, imported):
            statuses = {p["id"]: p["status"] for p in _query(app, "/gov/proposals")
                        ["proposals"]}
            assert statuses == {"1": "PROPOSAL_STATUS_PASSED",
                                "2": "PROPOSAL_STATUS_DEPOSIT_FAILED",
                                "3": "PROPOSAL_STATUS_PASSED",
                                "4": "PROPOSAL_STATUS_DEPOSIT_FAILED"}
            third = _query(app, "/gov/proposal/3")["proposal"]
            assert third["final_tally"]["yes"] == "15"
            assert _query(app, "/gov/params")["quorum_ppm"] == 400_000
            assert int(_query(app, f"/bank/balance/{gov_account}")["amount"]) == 0
            assert int(_query(app, f"/bank/balance/{chain.addresses[1]}")["amount"]) > 0
        assert original.committed.app_hash == imported.committed.app_hash
    finally:
        imported.close()
        original.close()


def _export_uncommitted(app: RaceApp) -> dict[str, Any]:
    """Export the state InitChain wrote (it is committed with the first block)."""
    ctx = Context("query", BlockInfo(0, 0, CHAIN_ID), app.block_state, app.registry)
    return app.registry.export_genesis(ctx)


def _gov_rows(state: Overlay) -> dict[str, list[Any]]:
    """Every row of every gov table, in key order."""
    from abci_app.modules.gov.module import MODULE
    from abci_app.store.overlay import TableView

    return {table.name: list(TableView(state, table).scan()) for table in MODULE.tables}


# --- bad genesis is refused ------------------------------------------------------------

def _bad(exported: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(exported)


def test_valid_export_passes_validation(mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    validate_app_state(mid_vote[1], VALIDATORS)


def test_deposit_or_vote_for_unknown_proposal_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["deposits"][0]["proposal_id"] = "99"
    with pytest.raises(GenesisError, match="unknown proposal 99"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["votes"][0]["proposal_id"] = "99"
    with pytest.raises(GenesisError, match="unknown proposal 99"):
        validate_app_state(state, VALIDATORS)


def test_vote_on_a_proposal_that_never_voted_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["votes"][0]["proposal_id"] = "2"
    with pytest.raises(GenesisError, match="never had a voting period"):
        validate_app_state(state, VALIDATORS)


@pytest.mark.parametrize("status", ["PROPOSAL_STATUS_UNSPECIFIED", "PROPOSAL_STATUS_OPEN", 42])
def test_bad_status_is_refused(mid_vote: tuple[Chain, dict[str, Any]], status: Any) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][1]["status"] = status
    with pytest.raises(GenesisError, match="status|proposals\\[1\\]"):
        validate_app_state(state, VALIDATORS)


def test_status_inconsistent_with_its_periods_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][0]["status"] = "PROPOSAL_STATUS_VOTING_PERIOD"
    with pytest.raises(GenesisError, match="never tallied"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][2]["status"] = "PROPOSAL_STATUS_DEPOSIT_PERIOD"
    with pytest.raises(GenesisError, match="voting heights must be 0"):
        validate_app_state(state, VALIDATORS)


def test_deposits_not_matching_the_proposal_total_are_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["deposits"][-1]["amount_nicoin"] = "2"
    with pytest.raises(GenesisError, match="deposits sum to"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["deposits"].append(dict(state["gov"]["deposits"][0]))
    with pytest.raises(GenesisError, match="appears twice"):
        validate_app_state(state, VALIDATORS)


def test_gov_account_that_cannot_repay_open_deposits_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    """Move most of the escrow to another account: the supply still adds up, but the
    deposits of the open proposals no longer match the gov account's balance."""
    state = _bad(mid_vote[1])
    balances = state["bank"]["balances"]
    gov_entry = next(b for b in balances if b["address"] == authority_address())
    other = next(b for b in balances if b["address"] != authority_address())
    gov_entry["amount"] = str(int(gov_entry["amount"]) - 5)
    other["amount"] = str(int(other["amount"]) + 5)
    with pytest.raises(GenesisError, match="gov module account .* holds"):
        validate_app_state(state, VALIDATORS)


def test_next_proposal_id_must_follow_the_highest_id(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["next_proposal_id"] = "4"
    with pytest.raises(GenesisError, match="next_proposal_id 4"):
        validate_app_state(state, VALIDATORS)
    state["gov"]["next_proposal_id"] = "many"
    with pytest.raises(GenesisError, match="decimal integer"):
        validate_app_state(state, VALIDATORS)


def test_malformed_entries_are_refused(mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["votes"][0]["option"] = "VOTE_OPTION_MAYBE"
    with pytest.raises(GenesisError, match="votes\\[0\\]"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["deposits"][0]["depositor"] = "cosmos1nothere"
    with pytest.raises(GenesisError, match="not a bech32"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][0]["final_tally"]["yes"] = "\u00b2"
    with pytest.raises(GenesisError, match="final_tally.yes must be a decimal integer"):
        validate_app_state(state, VALIDATORS)
    state = _bad(mid_vote[1])
    state["gov"]["proposals"] = {"1": {}}
    with pytest.raises(GenesisError, match="proposals must be a list"):
        validate_app_state(state, VALIDATORS)


def test_open_period_that_ended_before_the_genesis_height_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    """Proposal 3's voting period ends at 8: a chain starting at 9 would never close it."""
    from abci_app.core.module import load_modules
    from abci_app.modules.staking import keeper as staking

    registry = load_modules()
    store = CommittedState(None)
    try:
        ctx = Context("genesis", BlockInfo(9, 0, CHAIN_ID), Overlay(store), registry)
        staking.import_genesis_validators(ctx, VALIDATORS)
        with pytest.raises(GenesisError, match="ended at height 8"):
            registry.init_genesis(ctx, _bad(mid_vote[1]))
    finally:
        store.close()
