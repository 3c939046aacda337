"""Batched settlement through the real app: exact charges and shares, the caps, and
tickets refused with their own codes (replayed, forged, unregistered relay, another
executor's, expired, from the future); settled records are pruned after the window."""

from __future__ import annotations

from abci_app.modules.bank import keeper as bank
from abci_app.modules.inference import errors
from abci_app.modules.inference.keeper import escrow_address
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.fees import split
from tests.gov.test_gov_module import GENESIS_STATE, YES, submit, update_params, vote
from tests.harness import ICOIN, account
from tests.inference_chain.net import PRICE, UNITS, InferenceNet, relay_key

VALIDITY = 5


def supply(net: InferenceNet) -> int:
    return bank.supply(net.chain.keeper_context())


def test_settlement_charges_tokens_times_units_times_price_and_pays_exact_shares() -> None:
    net = InferenceNet.start()
    assert net.create_key(10 * ICOIN).ok
    total_supply = supply(net)
    executor, relay_owner = account(1), net.relay_owner
    balances = {a: net.chain.balance(a) for a in (executor, relay_owner)}
    usage = [(12, 30), (5, 1), (100, 256)]
    items = [net.signed(net.ticket(executor), p, c) for p, c in usage]

    settled = net.settle(1, items)

    assert settled.ok, settled.log
    charges = [(p + c) * UNITS * PRICE for p, c in usage]
    expected = {executor: 0, relay_owner: 0}
    for amount in charges:
        parts = dict(split(amount, [("executor", 900_000), ("relay", 100_000)]))
        expected[executor] += parts["executor"]
        expected[relay_owner] += parts["relay"]
    key = net.key()
    assert int(key["spent_nicoin"]) == sum(charges)
    assert int(key["settled_tickets"]) == 3
    assert net.chain.balance(escrow_address()) == 10 * ICOIN - sum(charges)
    assert {a: net.chain.balance(a) - balances[a] for a in balances} == expected
    assert supply(net) == total_supply
    assert settled.attributes("settle_tickets")["charged_nicoin"] == str(sum(charges))
    assert net.invariants() == []


def test_a_charge_never_exceeds_the_ticket_max_cost_nor_the_key_budget() -> None:
    net = InferenceNet.start()
    budget = 50 * UNITS * PRICE
    assert net.create_key(budget).ok
    capped = net.signed(net.ticket(account(0), max_cost=7 * UNITS * PRICE), 10, 10)
    assert net.settle(0, [capped]).ok
    assert int(net.key()["spent_nicoin"]) == 7 * UNITS * PRICE

    over_budget = net.signed(net.ticket(account(0)), 100, 100)
    assert net.settle(0, [over_budget]).ok
    assert int(net.key()["spent_nicoin"]) == budget
    assert net.key()["remaining_nicoin"] == "0"
    assert net.invariants() == []


def test_a_request_that_produced_nothing_is_not_charged() -> None:
    net = InferenceNet.start()
    assert net.create_key().ok
    assert net.settle(0, [net.signed(net.ticket(account(0)), 50, 0)]).ok
    assert net.key()["spent_nicoin"] == "0"


def test_a_replayed_ticket_is_refused_and_the_whole_batch_with_it() -> None:
    net = InferenceNet.start()
    assert net.create_key().ok
    first = net.signed(net.ticket(account(0)))
    assert net.settle(0, [first]).ok
    spent = net.key()["spent_nicoin"]
    fresh = net.signed(net.ticket(account(0)))

    replayed = net.settle(0, [fresh, first])

    assert replayed.code == errors.TICKET_ALREADY_SETTLED.code, replayed.log
    assert "ticket 1" in replayed.log
    assert net.key()["spent_nicoin"] == spent
    twice = net.settle(0, [fresh, fresh])
    assert twice.code == errors.TICKET_ALREADY_SETTLED.code


def test_forged_tickets_and_unregistered_relays_are_refused_with_their_own_codes() -> None:
    net = InferenceNet.start()
    assert net.create_key().ok
    genuine = net.signed(net.ticket(account(0)))
    raised = pb.Ticket.FromString(genuine.ticket)
    raised.max_cost_nicoin += 1
    forged = pb.SettledTicket()
    forged.CopyFrom(genuine)
    forged.ticket = raised.SerializeToString(deterministic=True)
    stranger = relay_key(99)
    unknown = net.signed(net.ticket(account(0), relay=stranger), relay=stranger)
    others = net.signed(net.ticket(account(2)))

    assert net.settle(0, [forged]).code == errors.FORGED_TICKET.code
    assert net.settle(0, [unknown]).code == errors.UNREGISTERED_RELAY.code
    assert net.settle(0, [others]).code == errors.WRONG_EXECUTOR.code
    future = net.signed(net.ticket(account(0), height=net.chain.height + 3))
    assert net.settle(0, [future]).code == errors.TICKET_NOT_YET_VALID.code
    garbage = pb.SettledTicket(ticket=b"\xff\xff", signature=b"\x00" * 64)
    assert net.settle(0, [garbage]).code == errors.MALFORMED_TICKET.code
    assert net.key()["spent_nicoin"] == "0"
    assert net.invariants() == []


def test_tickets_expire_after_the_window_and_their_records_are_pruned() -> None:
    net = InferenceNet.start(params={"ticket_validity_blocks": VALIDITY})
    assert net.create_key().ok
    signed_at = net.chain.height - 1
    kept = net.signed(net.ticket(account(0)))
    late = net.signed(net.ticket(account(0)))
    assert net.settle(0, [kept]).ok
    request_id = pb.Ticket.FromString(kept.ticket).request_id.hex()
    assert net.chain.query(f"/inference/settled/{signed_at}/{request_id}")["settled"]

    net.chain.advance_to(signed_at + VALIDITY + 2)

    assert net.settle(0, [late]).code == errors.TICKET_EXPIRED.code
    assert net.chain.query(f"/inference/settled/{signed_at}/{request_id}")["settled"] == []
    assert net.settle(0, [kept]).code == errors.TICKET_EXPIRED.code


def test_a_longer_window_voted_later_does_not_revive_pruned_tickets() -> None:
    net = InferenceNet.start(params={"ticket_validity_blocks": VALIDITY}, powers=(10,),
                             genesis={"gov": GENESIS_STATE["gov"]})
    assert net.create_key().ok
    kept = net.signed(net.ticket(account(0)))
    assert net.settle(0, [kept]).ok
    signed_at = pb.Ticket.FromString(kept.ticket).height
    net.chain.advance_to(signed_at + VALIDITY + 3)  # pruned now
    proposal = submit(net.chain, update_params(("inference", "ticket_validity_blocks", "500")))
    assert vote(net.chain, 0, proposal, YES) == 0
    net.chain.advance_to(net.chain.height + 6)
    assert net.chain.params("inference").ticket_validity_blocks == 500

    assert net.settle(0, [kept]).code == errors.TICKET_EXPIRED.code
