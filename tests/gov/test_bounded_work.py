"""Per-block and per-query work is bounded (DESIGN.md §3; docs/modules.md §13): deposit
refunds are paid a bounded number per block and carried over, listings answer pages, and
a query that would read too much of the state is refused instead of stalling the node."""

from __future__ import annotations

import json

import pytest

from abci_app import app as app_module
from abci_app.core.errors import BAD_QUERY, QUERY_TOO_COSTLY
from abci_app.modules.gov import keeper as gov_keeper
from abci_app.modules.gov.escrow import escrow_address
from race_protocol.gen.race.v1 import gov_pb2
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from tests.gov.harness import CHAIN_ID, ICOIN, Chain, Event, account, validator_key
from tests.gov.test_gov_module import YES, submit

DEPOSITORS = 8
VOTING = 3
GENESIS = {
    "epochs": {"params": {"epoch_length_blocks": 1_000}},
    "gov": {"params": {"min_deposit_nicoin": DEPOSITORS * ICOIN,
                       "min_initial_deposit_nicoin": ICOIN,
                       "max_deposit_period_blocks": 20, "voting_period_blocks": VOTING}},
}


def query(chain: Chain, path: str, page: dict | None = None) -> abci.ResponseQuery:
    data = json.dumps(page).encode() if page is not None else b""
    return chain.app.query(abci.RequestQuery(path=path, data=data))


def answer(chain: Chain, path: str, page: dict | None = None) -> dict:
    response = query(chain, path, page)
    assert response.code == 0, response.log
    return json.loads(response.value)


def refunded(events: list[Event]) -> list[dict[str, str]]:
    return [dict(e.attributes) for e in events if e.type == "proposal_deposits_refunded"]


def funded_proposal(chain: Chain) -> int:
    """A text proposal with one deposit from each of accounts 0..DEPOSITORS-1, voting."""
    proposal_id = submit(chain, deposit=ICOIN)
    for index in range(1, DEPOSITORS):
        assert chain.deliver(account(index), gov_pb2.MsgDeposit(
            proposal_id=proposal_id, depositor=account(index), amount_nicoin=ICOIN)).ok
    return proposal_id


def test_refunds_are_paid_a_bounded_number_per_block_and_carried_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gov_keeper, "MAX_REFUNDS_PER_BLOCK", 3)
    chain = Chain([10], GENESIS, accounts=range(DEPOSITORS))
    proposal_id = funded_proposal(chain)
    assert chain.deliver(account(0), gov_pb2.MsgVote(
        proposal_id=proposal_id, voter=account(0), option=YES)).ok
    escrowed = chain.balance(escrow_address())

    per_block = []
    while len(per_block) < 3:
        paid = refunded(chain.end_block())
        if paid:
            per_block.append(paid)
            assert answer(chain, "/app/invariants")["broken"] == []

    assert [[p["depositors"] for p in block] for block in per_block] == [["3"], ["3"], ["2"]]
    assert [block[-1]["complete"] for block in per_block] == ["false", "false", "true"]
    assert escrowed - chain.balance(escrow_address()) == DEPOSITORS * ICOIN
    assert not refunded(chain.end_block())


def test_a_chain_exported_in_the_middle_of_refunds_reimports_to_the_same_hash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gov_keeper, "MAX_REFUNDS_PER_BLOCK", 3)
    chain = Chain([10], GENESIS, accounts=range(DEPOSITORS))
    proposal_id = funded_proposal(chain)
    assert chain.deliver(account(0), gov_pb2.MsgVote(
        proposal_id=proposal_id, voter=account(0), option=YES)).ok
    while not refunded(chain.end_block()):
        pass
    exported = chain.registry.export_genesis(chain.app._query_context())
    assert exported["gov"]["refunds_in_progress"] == [
        {"proposal_id": str(proposal_id), "next_depositor": sorted(
            account(i) for i in range(DEPOSITORS))[3]}]

    copy = app_module.RaceApp(None)
    response = copy.init_chain(abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(exported).encode(), initial_height=1,
        validators=[abci.ValidatorUpdate(pub_key={"ed25519": validator_key(0)}, power=10)]))

    assert response.app_hash == chain.app.committed.app_hash
    copy.close()


def test_listings_answer_pages_that_cover_everything_once() -> None:
    chain = Chain([10], GENESIS, accounts=range(DEPOSITORS))
    proposal_id = funded_proposal(chain)
    for _ in range(4):
        submit(chain, deposit=ICOIN)

    pages, key = [], ""
    while True:
        found = answer(chain, "/gov/proposals", {"key": key, "limit": 2})
        pages.append([p["id"] for p in found["proposals"]])
        key = found["pagination"]["next_key"]
        if not key:
            break
    depositors = answer(chain, f"/gov/deposits/{proposal_id}", {"limit": 5})

    assert pages == [["1", "2"], ["3", "4"], ["5"]]
    assert len(depositors["deposits"]) == 5
    rest = answer(chain, f"/gov/deposits/{proposal_id}",
                  {"key": depositors["pagination"]["next_key"], "limit": 5})
    assert len(rest["deposits"]) == DEPOSITORS - 5 and rest["pagination"]["next_key"] == ""


def test_a_listing_without_a_page_answers_the_default_page() -> None:
    chain = Chain([10], GENESIS)

    found = answer(chain, "/gov/proposals")

    assert found == {"proposals": [], "pagination": {"next_key": ""}}


@pytest.mark.parametrize("page", [{"limit": 0}, {"limit": 1001}, {"limit": "5"},
                                  {"key": 5}, {"cursor": "x"}, [1], "not json"])
def test_a_bad_page_is_a_bad_query(page: object) -> None:
    chain = Chain([10], GENESIS)
    data = page.encode() if isinstance(page, str) else json.dumps(page).encode()

    response = chain.app.query(abci.RequestQuery(path="/gov/proposals", data=data))

    assert response.code == BAD_QUERY.code


def test_invariants_page_by_module() -> None:
    chain = Chain([10], GENESIS)
    names = chain.registry.names()

    first = answer(chain, "/app/invariants", {"limit": 2})
    second = answer(chain, "/app/invariants",
                    {"key": first["pagination"]["next_key"], "limit": 100})

    assert first["modules"] + second["modules"] == names
    assert answer(chain, "/app/invariants") == {"broken": []}  # without a page: all
    assert second["pagination"]["next_key"] == "" and second["broken"] == []


def test_a_query_reading_more_rows_than_its_budget_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain([10], GENESIS, accounts=range(DEPOSITORS))
    monkeypatch.setattr(app_module, "QUERY_ROW_BUDGET", 5, raising=False)

    refused = query(chain, "/app/invariants")
    paged = query(chain, "/gov/proposals", {"limit": 2})

    assert refused.code == QUERY_TOO_COSTLY.code
    assert "limit" in refused.log
    assert paged.code == 0
