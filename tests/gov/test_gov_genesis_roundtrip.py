"""Gov genesis: a chain exported mid-vote re-imports to the same app hash and carries on.

The original chain runs on the shared harness, several signed txs to a block. A copy
started from its export runs the same later blocks, and every block must hash the same on
both while the open proposals close exactly as on the original. A genesis written before
proposals carried messages (a ``content`` object, deposits held by the gov account) is
converted on import and reaches that same app hash.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.message import Message

from abci_app.app import RaceApp
from abci_app.core.authority import governance_authority
from abci_app.core.context import BlockInfo, Context
from abci_app.genesis import GenesisError, validate_app_state
from abci_app.modules.gov.escrow import escrow_address
from abci_app.modules.gov.module import MODULE as GOV_MODULE
from abci_app.modules.models import keeper as models
from abci_app.modules.staking import keeper as staking
from abci_app.store import CommittedState, Overlay
from abci_app.store.overlay import TableView
from abci_app.tx.codec import pack
from abci_app.wiring import build_registry
from race_protocol.gen.race.v1 import gov_pb2, models_pb2, params_pb2
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from tests.harness import CHAIN_ID, GENESIS_TIME_S, ICOIN, Chain, account, validator_key

MIN_DEPOSIT = 1_000 * ICOIN
DEPOSIT_BLOCKS = 6
VOTING_BLOCKS = 4
POWERS = [10, 5]
VALIDATORS = [(validator_key(i), power) for i, power in enumerate(POWERS)]
YES, NO = gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_NO
EXPORT_HEIGHT = 7
GOV = governance_authority()
GOV_PARAMS = {"min_deposit_nicoin": MIN_DEPOSIT, "min_initial_deposit_nicoin": ICOIN,
              "max_deposit_period_blocks": DEPOSIT_BLOCKS, "voting_period_blocks": VOTING_BLOCKS}

RAISE_QUORUM = params_pb2.MsgUpdateParams(authority=GOV, changes=[
    params_pb2.ParamChange(module="gov", key="quorum_ppm", value="400000")])


def register(proposer: int) -> models_pb2.MsgRegisterModel:
    return models_pb2.MsgRegisterModel(
        authority=GOV, owner=account(proposer), id="smollm2-135m",
        source=models_pb2.ModelSource(hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
                                      revision="main"),
        units_of_compute_per_token=1_000, max_context=2048, validation_threshold_ppm=990_000)


def new_chain() -> Chain:
    """Accounts 0 and 1 operate the two validators (weights 10 and 5); account 2 has none."""
    return Chain(POWERS, {"epochs": {"params": {"epoch_length_blocks": 1_000}},
                          "gov": {"params": GOV_PARAMS}}, accounts=range(3))


def submit(chain: Chain, sender: int, deposit: int, *messages: Message) -> bytes:
    return chain.sign(account(sender), [gov_pb2.MsgSubmitProposal(
        proposer=account(sender), title=f"proposal by {sender}", summary="why",
        messages=[pack(m) for m in messages], initial_deposit_nicoin=deposit)])


def deposit(chain: Chain, sender: int, proposal_id: int, amount: int) -> bytes:
    return chain.sign(account(sender), [gov_pb2.MsgDeposit(
        proposal_id=proposal_id, depositor=account(sender), amount_nicoin=amount)])


def vote(chain: Chain, sender: int, proposal_id: int, option: int) -> bytes:
    return chain.sign(account(sender), [gov_pb2.MsgVote(
        proposal_id=proposal_id, voter=account(sender), option=option)])


def block(app: RaceApp, height: int, txs: list[bytes]) -> bytes:
    """FinalizeBlock then Commit at ``height`` (as the harness times it); every tx must
    succeed. Returns the app hash."""
    response = app.finalize_block(abci.RequestFinalizeBlock(
        txs=txs, height=height, time={"seconds": GENESIS_TIME_S + height},
        hash=height.to_bytes(32, "big")))
    for result in response.tx_results:
        assert result.code == 0, result.log
    app.commit(abci.RequestCommit())
    return bytes(response.app_hash)


def run_to_export() -> tuple[Chain, dict[str, Any]]:
    """The original chain at height 7 and its export.

    1 (text, full deposit) passed at height 6 with a final tally; 2 (text, 1 icoin) is in its
    deposit period until 8; 3 (param change) is voting until 8, yes 10 against no 5; 4
    (register model) is in its deposit period until 11 and holds its model id.
    """
    chain = new_chain()
    blocks: dict[int, list[bytes]] = {
        2: [submit(chain, 0, MIN_DEPOSIT), submit(chain, 2, ICOIN)],
        3: [submit(chain, 0, 400 * ICOIN, RAISE_QUORUM), vote(chain, 0, 1, YES)],
        4: [deposit(chain, 1, 3, 600 * ICOIN)],
        5: [vote(chain, 0, 3, YES), vote(chain, 1, 3, NO),
            submit(chain, 2, ICOIN, register(2))],
    }
    while chain.height <= EXPORT_HEIGHT:
        block(chain.app, chain.height, blocks.get(chain.height, []))
    return chain, chain.registry.export_genesis(chain.keeper_context())


@pytest.fixture(scope="module")
def mid_vote() -> Iterator[tuple[Chain, dict[str, Any]]]:
    chain, exported = run_to_export()
    yield chain, exported
    chain.close()


def init_app(state: dict[str, Any], height: int) -> tuple[RaceApp, bytes]:
    """A new app after InitChain with ``state`` at ``height``, and its genesis app hash."""
    app = RaceApp(None)
    response = app.init_chain(abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(state).encode(), initial_height=height,
        time={"seconds": GENESIS_TIME_S + height - 1},
        validators=[abci.ValidatorUpdate(pub_key={"ed25519": key}, power=power)
                    for key, power in VALIDATORS]))
    return app, bytes(response.app_hash)


def query(app: RaceApp, path: str) -> Any:
    response = app.query(abci.RequestQuery(path=path))
    assert response.code == 0, response.log
    return json.loads(response.value)


def genesis_context(app: RaceApp) -> Context:
    """The state InitChain wrote (it is committed with the first block)."""
    return Context("query", BlockInfo(0, 0, CHAIN_ID), app.block_state, app.registry)


def gov_rows(state: Overlay) -> dict[str, list[Any]]:
    """Every row of every gov table, in key order."""
    return {table.name: list(TableView(state, table).scan()) for table in GOV_MODULE.tables}


def committed_context(app: RaceApp) -> Context:
    """A read-only context on the app's last committed state."""
    info = BlockInfo(app.committed.height, app.last_block_time_ns, CHAIN_ID)
    return Context("query", info, Overlay(app.committed, read_only=True), app.registry)


def run_later_blocks(original: Chain, copied: RaceApp) -> list[tuple[bytes, bytes]]:
    """The same blocks on both chains: account 1 switches to yes at 8, when 2 and 3 close;
    4's deposit period ends at 11. Each block's app hash on (original, copy)."""
    later = {EXPORT_HEIGHT + 1: [vote(original, 1, 3, YES)]}
    return [(block(original.app, height, later.get(height, [])),
             block(copied, height, later.get(height, [])))
            for height in range(EXPORT_HEIGHT + 1, 12)]


def assert_closed_as_on_the_original(app: RaceApp) -> None:
    statuses = {p["id"]: p["status"] for p in query(app, "/gov/proposals")["proposals"]}
    assert statuses == {"1": "PROPOSAL_STATUS_PASSED",
                        "2": "PROPOSAL_STATUS_DEPOSIT_FAILED",
                        "3": "PROPOSAL_STATUS_PASSED",
                        "4": "PROPOSAL_STATUS_DEPOSIT_FAILED"}
    assert query(app, "/gov/proposal/3")["proposal"]["final_tally"]["yes"] == "15"
    assert query(app, "/gov/params")["quorum_ppm"] == 400_000
    assert int(query(app, f"/bank/balance/{escrow_address()}")["amount"]) == 0
    assert query(app, "/models/list")["models"] == []  # 4's reserved id was freed


def test_export_carries_every_proposal_deposit_and_vote(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    _, exported = mid_vote
    gov = exported["gov"]
    statuses = {p["id"]: p["status"] for p in gov["proposals"]}
    assert statuses == {"1": "PROPOSAL_STATUS_PASSED", "2": "PROPOSAL_STATUS_DEPOSIT_PERIOD",
                        "3": "PROPOSAL_STATUS_VOTING_PERIOD",
                        "4": "PROPOSAL_STATUS_DEPOSIT_PERIOD"}
    assert gov["next_proposal_id"] == "5"
    third = gov["proposals"][2]
    assert third["kind"] == "MsgUpdateParams"
    assert third["messages"][0]["@type"] == "/race.v1.MsgUpdateParams"
    assert third["messages"][0]["changes"][0]["key"] == "quorum_ppm"
    assert (third["voting_start_height"], third["voting_end_height"]) == ("4", "8")
    assert gov["proposals"][0]["final_tally"]["yes"] == "10"
    deposits = {(d["proposal_id"], d["depositor"]): d["amount_nicoin"] for d in gov["deposits"]}
    assert deposits[("3", account(0))] == str(400 * ICOIN)
    assert deposits[("3", account(1))] == str(600 * ICOIN)
    assert len(deposits) == 5  # 1, 2 and 4 by their proposers; 3 by accounts 0 and 1
    votes = {(v["proposal_id"], v["voter"]): v["option"] for v in gov["votes"]}
    assert votes == {("1", account(0)): "VOTE_OPTION_YES",
                     ("3", account(0)): "VOTE_OPTION_YES",
                     ("3", account(1)): "VOTE_OPTION_NO"}
    validate_app_state(exported, VALIDATORS)


def test_reimport_has_same_app_hash_and_the_proposals_close_as_on_the_original() -> None:
    """Runs both chains past every open deadline, comparing each block's hash."""
    original, exported = run_to_export()
    escrowed = int(query(original.app, f"/bank/balance/{escrow_address()}")["amount"])
    assert escrowed == MIN_DEPOSIT + ICOIN + ICOIN  # proposals 2, 3 and 4
    assert int(query(original.app, f"/bank/balance/{GOV}")["amount"]) == 0

    # Gov state does not depend on the genesis height: a chain restarted at the next height
    # holds the same gov rows and exports the same section.
    restarted, _ = init_app(exported, EXPORT_HEIGHT + 1)
    try:
        assert gov_rows(restarted.block_state) == gov_rows(
            Overlay(original.app.committed, read_only=True))
        assert restarted.registry.export_genesis(genesis_context(restarted))["gov"] == \
            exported["gov"]
    finally:
        restarted.close()

    # The app hash, as in tests/chain's round trip, at genesis height 1 (the epochs and
    # pricing modules start their current epoch at the genesis height); the first block
    # then comes at the original chain's next height.
    imported, genesis_hash = init_app(exported, 1)
    try:
        assert genesis_hash == original.app.committed.app_hash
        assert imported.registry.export_genesis(genesis_context(imported)) == exported
        # Proposal 4 still holds its model id (the models section exports no proposed ids).
        reserved = models.get_model(genesis_context(imported), "smollm2-135m")
        assert reserved is not None and reserved.status == models.PROPOSED
        assert (reserved.proposal_id, reserved.updated_height, reserved.owner) == (
            4, 5, account(2))
        for height, (on_original, on_copy) in enumerate(run_later_blocks(original, imported),
                                                        start=EXPORT_HEIGHT + 1):
            assert on_original == on_copy, height
        for app in (original.app, imported):
            assert_closed_as_on_the_original(app)
    finally:
        imported.close()
        original.close()


# --- genesis written before proposals carried messages ---------------------------------

LEGACY_KINDS = {"MsgRegisterModel": "register_model", "MsgRetireModel": "retire_model",
                "MsgUpdateModelParams": "update_model_params",
                "MsgUpdateParams": "update_params"}


def legacy_proposal(proposal: dict[str, Any]) -> dict[str, Any]:
    """``proposal`` as the chain exported it before proposals carried messages: one
    ``content`` object of a legacy kind, every field printed, so an authority and owner the
    submitter left unset read ``""``. For example::

        "content": {"update_params": {"changes": [{"module": "gov", "key": "quorum_ppm",
                                                   "value": "400000"}], "authority": ""}},
        "kind": "update_params"
    """
    legacy = {key: value for key, value in proposal.items() if key != "messages"}
    if not proposal["messages"]:
        legacy.update(content={"text": {}}, kind="text")
        return legacy
    (message,) = proposal["messages"]
    kind = LEGACY_KINDS[message["@type"].rsplit(".", 1)[-1]]
    body = {key: value for key, value in message.items() if key != "@type"}
    body["authority"] = ""
    if "owner" in body:
        body["owner"] = ""
    legacy.update(content={kind: body}, kind=kind)
    return legacy


def legacy_genesis(exported: dict[str, Any]) -> dict[str, Any]:
    """``exported`` as the chain wrote it before: legacy proposals, and the open proposals'
    deposits held by the gov module account rather than a separate escrow account."""
    state = copy.deepcopy(exported)
    state["gov"]["proposals"] = [legacy_proposal(p) for p in state["gov"]["proposals"]]
    for section, entries in (("bank", "balances"), ("auth", "accounts")):
        listed = state[section][entries]
        (held_by_escrow,) = [e for e in listed if e["address"] == escrow_address()]
        assert not [e for e in listed if e["address"] == GOV]
        held_by_escrow["address"] = GOV
        listed.sort(key=lambda e: e["address"])
    return state


def without_gov_account(exported: dict[str, Any]) -> dict[str, Any]:
    """``exported`` less the gov module account's auth entry, which a legacy genesis lists
    (the account held the deposits) and a chain that never sent it coins does not."""
    state = copy.deepcopy(exported)
    accounts = state["auth"]["accounts"]
    assert {"address": GOV, "sequence": 0} in accounts
    accounts.remove({"address": GOV, "sequence": 0})
    return state


def test_a_legacy_genesis_converts_to_messages_and_behaves_the_same() -> None:
    """The converted proposals, and the deposits moved to escrow, give the state of the
    chain that wrote messages; the open proposals then close the same way."""
    original, exported = run_to_export()
    legacy = legacy_genesis(exported)
    assert legacy["gov"]["proposals"][3]["content"]["register_model"]["owner"] == ""
    imported, _ = init_app(legacy, 1)
    try:
        converted = imported.registry.export_genesis(genesis_context(imported))
        assert without_gov_account(converted) == exported
        run_later_blocks(original, imported)
        for app in (original.app, imported):
            assert_closed_as_on_the_original(app)
        assert without_gov_account(
            imported.registry.export_genesis(committed_context(imported))) == \
            original.registry.export_genesis(original.keeper_context())
    finally:
        imported.close()
        original.close()


def closed_legacy_proposal(proposal_id: int, content: dict[str, Any]) -> dict[str, Any]:
    """A rejected legacy proposal with no deposits left to settle."""
    return {"id": str(proposal_id), "proposer": account(2), "title": "old", "summary": "",
            "content": content, "status": "PROPOSAL_STATUS_REJECTED", "submit_height": "1",
            "deposit_end_height": "3", "total_deposit_nicoin": "0",
            "voting_start_height": "1", "voting_end_height": "2",
            "final_tally": {"yes": "0", "abstain": "0", "no": "5", "no_with_veto": "0",
                            "total_weight": "15"},
            "kind": next(iter(content)), "execution_log": ""}


LEGACY_CONTENT = {
    "text": {},
    "register_model": {"id": "m1", "source": {"hf_repo": "org/m1", "revision": "main"},
                       "units_of_compute_per_token": "3", "max_context": "64",
                       "validation_threshold_ppm": "990000", "authority": "", "owner": ""},
    "retire_model": {"id": "m0", "authority": ""},
    "update_model_params": {"id": "m0", "units_of_compute_per_token": "4", "max_context": "0",
                            "validation_threshold_ppm": "0", "authority": ""},
    "update_params": {"changes": [{"module": "bank", "key": "send_enabled",
                                   "value": "false"}]},
}


@pytest.mark.parametrize("kind", sorted(LEGACY_CONTENT))
def test_each_legacy_content_kind_becomes_its_message_signed_by_the_gov_account(
        kind: str) -> None:
    chain = Chain(POWERS, {"gov": {"proposals": [
        closed_legacy_proposal(1, {kind: LEGACY_CONTENT[kind]})]}}, accounts=range(3))
    converted = chain.query("/gov/proposal/1")["proposal"]
    if kind == "text":
        assert (converted["kind"], converted["messages"]) == ("text", [])
        return
    (message,) = converted["messages"]
    type_name = {v: k for k, v in LEGACY_KINDS.items()}[kind]
    assert (converted["kind"], message["@type"]) == (type_name, f"/race.v1.{type_name}")
    assert message["authority"] == GOV
    if kind == "register_model":
        assert message["owner"] == account(2)


def test_an_unknown_legacy_content_kind_is_refused() -> None:
    state = {"gov": {"proposals": [closed_legacy_proposal(1, {"mint_coins": {}})]}}
    with pytest.raises(GenesisError, match="unknown legacy content kind 'mint_coins'"):
        validate_app_state(state)


def test_legacy_deposits_the_gov_account_cannot_cover_are_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = legacy_genesis(mid_vote[1])
    balances = state["bank"]["balances"]
    gov_entry = next(b for b in balances if b["address"] == GOV)
    other = next(b for b in balances if b["address"] == account(0))
    gov_entry["amount"] = str(int(gov_entry["amount"]) - 5)
    other["amount"] = str(int(other["amount"]) + 5)
    with pytest.raises(GenesisError, match="escrow account .* holds"):
        validate_app_state(state, VALIDATORS)


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


def test_a_kind_that_does_not_match_the_messages_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][2]["kind"] = "text"
    with pytest.raises(GenesisError, match="kind 'text' but its messages are "
                                           "'MsgUpdateParams'"):
        validate_app_state(state, VALIDATORS)


def test_an_open_proposal_with_a_message_that_does_not_check_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    state = _bad(mid_vote[1])
    state["gov"]["proposals"][2]["messages"][0]["changes"] = []
    with pytest.raises(GenesisError, match="proposal 3 messages: .*at least one change"):
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


def test_an_escrow_that_cannot_repay_open_deposits_is_refused(
        mid_vote: tuple[Chain, dict[str, Any]]) -> None:
    """Move some of the escrow to another account: the supply still adds up, but the
    deposits of the open proposals no longer match the escrow account's balance."""
    state = _bad(mid_vote[1])
    balances = state["bank"]["balances"]
    escrow_entry = next(b for b in balances if b["address"] == escrow_address())
    other = next(b for b in balances if b["address"] == account(0))
    escrow_entry["amount"] = str(int(escrow_entry["amount"]) - 5)
    other["amount"] = str(int(other["amount"]) + 5)
    with pytest.raises(GenesisError, match="escrow account .* holds"):
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
    registry = build_registry()
    store = CommittedState(None)
    try:
        ctx = Context("genesis", BlockInfo(9, 0, CHAIN_ID), Overlay(store), registry)
        staking.import_genesis_validators(ctx, VALIDATORS)
        with pytest.raises(GenesisError, match="ended at height 8"):
            registry.init_genesis(ctx, _bad(mid_vote[1]))
    finally:
        store.close()
