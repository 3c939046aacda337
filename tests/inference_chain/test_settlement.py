"""Batched settlement through the real app: exact charges and shares (the executor's held
until the cycle's release, docs/rewards.md), the caps, and tickets refused with their own
codes (replayed, forged, unregistered relay, another executor's, expired, from the
future); settled records are pruned after the window."""

from __future__ import annotations

from abci_app.modules.bank import keeper as bank
from abci_app.modules.inference import errors
from abci_app.modules.inference.keeper import escrow_address
from abci_app.modules.inference.params import fee_shares
from abci_app.modules.rewards.keeper import training_fund_address
from abci_app.modules.rewards.params import issuance_shares
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
    fund = training_fund_address()
    balances = {a: net.chain.balance(a) for a in (executor, relay_owner, fund)}
    usage = [(12, 30), (5, 1), (100, 256)]
    items = [net.signed(net.ticket(executor), p, c) for p, c in usage]

    settled = net.settle(1, items)

    assert settled.ok, settled.log
    charges = [(p + c) * UNITS * PRICE for p, c in usage]
    shares = fee_shares(net.chain.params("inference"))
    parts = {name: 0 for name, _ in shares}
    for amount in charges:
        for name, part in split(amount, shares):
            parts[name] += part
    key = net.key()
    assert int(key["spent_nicoin"]) == sum(charges)
    assert int(key["settled_tickets"]) == 3
    assert net.chain.balance(escrow_address()) == 10 * ICOIN - sum(charges)
    # Batch 1 mints 9 coins per coin of fees, split by the rewards module's issuance shares.
    minted = 9 * sum(charges)
    issued = dict(split(minted, issuance_shares(net.chain.params("rewards"))))
    assert supply(net) == total_supply + minted
    assert net.chain.balance(relay_owner) - balances[relay_owner] == parts["relay"]
    assert net.chain.balance(fund) - balances[fund] == (parts["training_fund"]
                                                        + issued["training_fund"])
    # The executor's share and its issuance are held until the cycle's release.
    assert net.chain.balance(executor) == balances[executor]
    held = net.chain.query(f"/rewards/held/{executor}")
    assert int(held["held_total_nicoin"]) == parts["executor"] + issued["executor"]
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
