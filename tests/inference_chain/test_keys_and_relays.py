"""API keys, providers and relays through the real app: escrow, refunds after the ticket
validity window, serving only active models, relay keys registered with their consent."""

from __future__ import annotations

from abci_app.modules.inference import errors
from abci_app.modules.inference.keeper import escrow_address
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import api_key_hash
from tests.harness import ICOIN, account
from tests.inference_chain.net import MODEL, OTHER_MODEL, InferenceNet, public, relay_key

VALIDITY = 5


def test_creating_a_key_moves_its_budget_into_escrow_and_stores_only_its_hash() -> None:
    net = InferenceNet.start()
    before = net.chain.balance(net.developer)

    assert net.create_key(3 * ICOIN).ok

    key = net.key()
    assert net.chain.balance(net.developer) == before - 3 * ICOIN
    assert net.chain.balance(escrow_address()) == 3 * ICOIN
    assert (key["owner"], key["budget_nicoin"], key["remaining_nicoin"], key["status"]) == (
        net.developer, str(3 * ICOIN), str(3 * ICOIN), "API_KEY_STATUS_ACTIVE")
    assert key["key_hash"] == api_key_hash(net.secret).hex()
    listed = net.chain.query(f"/inference/keys/{net.developer}")["keys"]
    assert [k["key_hash"] for k in listed] == [key["key_hash"]]
    assert net.invariants() == []


def test_key_creation_refusals_have_their_own_codes() -> None:
    net = InferenceNet.start(params={"min_key_budget_nicoin": 1000, "max_models_per_key": 1})
    assert net.create_key(999).code == errors.INVALID_BUDGET.code
    assert net.create_key(models=["no-such-model"]).code == errors.INVALID_MODELS.code
    assert net.create_key(models=[MODEL, OTHER_MODEL]).code == errors.INVALID_MODELS.code
    assert net.create_key(expires_in_blocks=10**10).code == errors.INVALID_EXPIRY.code
    assert net.create_key().ok
    assert net.create_key().code == errors.KEY_EXISTS.code
    stranger = net.chain.deliver(account(0), pb.MsgCreateApiKey(
        owner=net.developer, key_hash=b"\x09" * 32, budget_nicoin=ICOIN))
    assert stranger.code == errors.SIGNER_MISMATCH.code
    assert net.chain.deliver(net.developer, pb.MsgCreateApiKey(
        owner=net.developer, key_hash=b"\x09" * 31, budget_nicoin=ICOIN)).code == \
        errors.INVALID_KEY_HASH.code


def test_a_top_up_adds_to_the_budget_and_only_the_owner_can_top_up() -> None:
    net = InferenceNet.start()
    assert net.create_key(ICOIN).ok
    top_up = pb.MsgTopUpApiKey(owner=net.developer, key_hash=net.key_hash,
                               amount_nicoin=ICOIN // 2)
    assert net.chain.deliver(net.developer, top_up).ok
    assert net.key()["budget_nicoin"] == str(ICOIN + ICOIN // 2)
    other = pb.MsgTopUpApiKey(owner=account(0), key_hash=net.key_hash, amount_nicoin=1)
    assert net.chain.deliver(account(0), other).code == errors.NOT_KEY_OWNER.code
    assert net.invariants() == []


def test_a_revoked_key_refunds_what_is_left_once_its_tickets_can_no_longer_settle() -> None:
    net = InferenceNet.start(params={"ticket_validity_blocks": VALIDITY})
    assert net.create_key(5 * ICOIN).ok
    signed_before = net.signed(net.ticket(account(0)))
    start = net.chain.balance(net.developer)
    revoke = pb.MsgRevokeApiKey(owner=net.developer, key_hash=net.key_hash)
    revoked = net.chain.deliver(net.developer, revoke)
    assert revoked.ok
    closes = int(net.key()["closes_height"])
    assert closes == revoked.height + VALIDITY
    assert net.key()["status"] == "API_KEY_STATUS_REVOKED"

    # A ticket signed before the revocation still settles inside the window ...
    assert net.settle(0, [signed_before]).ok
    spent = int(net.key()["spent_nicoin"])
    assert spent > 0
    # ... one signed after it settles at nothing.
    after = net.signed(net.ticket(account(0)))
    assert net.settle(0, [after]).ok
    assert int(net.key()["spent_nicoin"]) == spent
    assert net.chain.deliver(net.developer, revoke).code == errors.KEY_NOT_ACTIVE.code

    net.chain.advance_to(closes)
    assert net.chain.balance(net.developer) == start
    net.chain.end_block()

    assert net.chain.balance(net.developer) == start + 5 * ICOIN - spent
    assert net.chain.query_raw(f"/inference/key/{net.key_hash.hex()}").code == \
        errors.KEY_NOT_FOUND.code
    assert net.chain.balance(escrow_address()) == 0
    assert net.invariants() == []


def test_an_expiring_key_refunds_after_its_last_ticket_height_plus_the_window() -> None:
    net = InferenceNet.start(params={"ticket_validity_blocks": VALIDITY})
    created = net.create_key(2 * ICOIN, expires_in_blocks=3)
    key = net.key()
    assert int(key["expires_height"]) == created.height + 3
    closes = int(key["closes_height"])
    assert closes == created.height + 3 + VALIDITY + 1
    start = net.chain.balance(net.developer)

    net.chain.advance_to(closes + 1)

    assert net.chain.balance(net.developer) == start + 2 * ICOIN
    assert net.invariants() == []


def test_providers_serve_only_active_models_and_the_draw_lists_them_by_weight() -> None:
    net = InferenceNet.start(powers=(10, 20, 30, 40), serve=False)
    assert net.serve(2).ok and net.serve(0).ok
    refused = net.chain.deliver(account(1), pb.MsgServeModel(
        provider=account(1), model="no-such-model", endpoint="127.0.0.1:1"))
    assert refused.code == errors.MODEL_NOT_SERVABLE.code
    bad_endpoint = net.chain.deliver(account(1), pb.MsgServeModel(
        provider=account(1), model=MODEL, endpoint="not an endpoint"))
    assert bad_endpoint.code == errors.INVALID_ENDPOINT.code

    answer = net.chain.query(f"/inference/providers/{MODEL}")

    weights = {account(0): "10", account(2): "30"}
    assert {p["address"]: p["weight"] for p in answer["providers"]} == weights
    assert [p["address"] for p in answer["providers"]] == sorted(weights)
    assert answer["model"]["price_per_token_nicoin"] == str(3 * 1000)
    assert len(bytes.fromhex(answer["beacon_output"])) == 32
    assert [m["id"] for m in net.chain.query("/inference/models")["models"]] == [MODEL]

    stop = pb.MsgStopServing(provider=account(0), model=MODEL)
    assert net.chain.deliver(account(0), stop).ok
    assert net.chain.deliver(account(0), stop).code == errors.NOT_SERVING.code
    assert [p["address"] for p in net.chain.query(f"/inference/providers/{MODEL}")[
        "providers"]] == [account(2)]


def test_a_relay_key_is_registered_only_with_its_own_consent() -> None:
    net = InferenceNet.start(register_relay=False)
    mine, theirs = relay_key(1), relay_key(2)
    assert net.register_relay(mine, 0).ok
    assert net.chain.query(f"/inference/relay/{public(mine).hex()}")["relay"]["owner"] == \
        account(0)
    assert net.register_relay(mine, 1).code == errors.RELAY_EXISTS.code

    # Someone else's key, with a proof made by another key: refused.
    forged_proof = pb.MsgRegisterRelay(owner=account(1), public_key=public(theirs),
                                       proof=b"\x00" * 64)
    assert net.chain.deliver(account(1), forged_proof).code == errors.BAD_RELAY_PROOF.code

    deregister = pb.MsgDeregisterRelay(owner=account(1), public_key=public(mine))
    assert net.chain.deliver(account(1), deregister).code == errors.NOT_RELAY_OWNER.code
    mine_off = pb.MsgDeregisterRelay(owner=account(0), public_key=public(mine))
    assert net.chain.deliver(account(0), mine_off).ok
    assert net.chain.query(f"/inference/relay/{public(mine).hex()}")["found"] is False
