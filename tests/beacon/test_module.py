"""The beacon module through the real app (tests/harness.py): rounds, reveals, recovery,
refusals with their own codes, records, queries and the output hook."""

from __future__ import annotations

from dataclasses import replace

import pytest

from abci_app.modules.beacon import errors, keeper
from abci_app.wiring import build_registry, hooks
from race_protocol.beacon import group
from race_protocol.beacon.keys import EncryptionKey
from race_protocol.beacon.output import failed_round_output, genesis_output
from race_protocol.beacon.participant import register_key_message, reveal_message
from race_protocol.gen.race.v1 import beacon_pb2
from tests.beacon.net import BeaconNet
from tests.harness import CHAIN_ID, account

COMPLETE = "BEACON_ROUND_STATUS_COMPLETE"
FAILED = "BEACON_ROUND_STATUS_FAILED"


def beacon_state(net: BeaconNet) -> tuple:
    """Everything a refused beacon message must leave unchanged."""
    answer = net.current()
    return (answer["round"], answer["participants"], net.chain.query("/beacon/latest"))


def test_before_any_round_the_output_is_the_documented_genesis_value() -> None:
    net = BeaconNet.start(register=False)
    latest = net.chain.query("/beacon/latest")
    assert latest["round"] == "0"
    assert latest["output"] == genesis_output(CHAIN_ID).hex()
    assert latest["current_round"] == "0"


def test_a_round_opens_once_weighted_nodes_register_keys() -> None:
    net = BeaconNet.start(register=False)
    net.chain.advance_to(5)
    assert net.chain.query("/beacon/latest")["current_round"] == "0"
    net.register_all()
    entry = net.current()["round"]
    assert (entry["round"], entry["participants"], entry["total_units"],
            entry["threshold_units"]) == ("1", "4", "4", "3")


def test_rounds_complete_back_to_back_with_the_offline_output() -> None:
    net = BeaconNet.start()
    first = net.run_round()
    second_start = net.current()["round"]
    assert first["round"]["status"] == COMPLETE
    assert bytes.fromhex(first["round"]["output"]) == net.offline_output(1, net.operators)
    assert int(second_start["start_height"]) == int(first["round"]["end_height"]) + 1
    second = net.run_round()
    assert second["round"]["output"] != first["round"]["output"]


def test_the_output_is_the_same_whether_a_participant_reveals_or_withholds() -> None:
    revealing, withholding = BeaconNet.start(seed=11), BeaconNet.start(seed=11)
    last = revealing.operators[-1]
    revealed = revealing.run_round()
    recovered = withholding.run_round(withhold=[last])
    assert recovered["round"]["output"] == revealed["round"]["output"]
    assert recovered["non_revealers"] == [last]
    statuses = {p["address"]: p["status"] for p in recovered["participants"]}
    assert statuses[last] == "BEACON_PARTICIPANT_STATUS_RECOVERED"
    assert recovered["round"]["recovered"] == "1"


def test_withholding_with_fewer_than_threshold_shares_posted_fails_the_round() -> None:
    net = BeaconNet.start()
    withholder = net.operators[0]
    net.deal()
    net.reveal(net.operators[1:])
    # Threshold 3 of 4 units: two posters are one short.
    outcomes = net.recover(net.operators[1:3])
    assert all(o.ok for o in outcomes)
    final = net.finish()
    assert final["round"]["status"] == FAILED
    statuses = {p["address"]: p["status"] for p in final["participants"]}
    assert statuses[withholder] == "BEACON_PARTICIPANT_STATUS_UNRECOVERED"
    assert bytes.fromhex(final["round"]["output"]) == failed_round_output(
        1, genesis_output(CHAIN_ID))


def test_a_node_absent_for_a_whole_round_is_recorded_and_the_round_completes() -> None:
    net = BeaconNet.start()
    stopped = net.operators[2]
    final = net.run_round(absent=[stopped])
    assert final["round"]["status"] == COMPLETE
    assert final["non_revealers"] == [stopped]
    assert final["excluded"] == [stopped]
    present = [op for op in net.operators if op != stopped]
    assert bytes.fromhex(final["round"]["output"]) == net.offline_output(1, present)
    record = net.chain.query(f"/beacon/record/{stopped}")["record"]
    assert (record["missed_deals"], record["missed_reveals"], record["last_missed_round"]) \
        == ("1", "1", "1")


def test_non_revealers_are_recorded_with_events() -> None:
    net = BeaconNet.start()
    withholder = net.operators[1]
    net.deal()
    net.reveal([op for op in net.operators if op != withholder])
    entry = net.current()["round"]
    events = net.chain.advance_to(int(entry["reveal_end_height"]) + 1)
    flagged = [dict(e.attributes) for e in events if e.type == "beacon_non_revealer"]
    assert flagged == [{"round": "1", "participant": withholder, "dealt": "true"}]
    assert net.chain.query(f"/beacon/record/{withholder}")["record"]["missed_reveals"] == "1"


@pytest.mark.parametrize("changed", range(4))
def test_the_output_depends_on_every_contribution(changed: int) -> None:
    secrets = [group.random_scalar() for _ in range(4)]
    outputs = []
    for variant in (secrets, [*secrets[:changed], group.random_scalar(),
                              *secrets[changed + 1:]]):
        net = BeaconNet.start()
        final = net.run_round(secrets=dict(zip(net.operators, variant, strict=True)))
        assert final["round"]["status"] == COMPLETE
        outputs.append(final["round"]["output"])
    assert outputs[0] != outputs[1]


def test_the_output_hook_hears_every_final_round_and_the_keeper_serves_it() -> None:
    heard: list[tuple[int, bytes]] = []
    started: list[int] = []
    registry = build_registry(hook_set=replace(
        hooks(), beacon_output=(lambda ctx, r, out: heard.append((r, out)),),
        beacon_round_started=(lambda ctx, r: started.append(r),)))
    net = BeaconNet.start(registry=registry)
    final = net.run_round()
    assert heard == [(1, bytes.fromhex(final["round"]["output"]))]
    assert started == [1, 2]
    ctx = net.chain.keeper_context()
    assert keeper.output_for_round(ctx, 1) == heard[0][1]
    assert keeper.output_for_round(ctx, 2) is None
    assert keeper.output_for_round(ctx, 0) == genesis_output(CHAIN_ID)
    assert keeper.latest_output(ctx).output == heard[0][1]


def test_invariants_hold_through_rounds_of_every_kind() -> None:
    net = BeaconNet.start()
    net.run_round()
    net.run_round(withhold=[net.operators[0]])
    net.run_round(absent=[net.operators[3]])
    assert net.chain.query("/app/invariants") == {"broken": []}
    assert net.current()["round"]["round"] == "4"


def test_units_follow_voting_weight() -> None:
    net = BeaconNet.start(powers=(30, 10, 20))
    shares = {p["address"]: p["units"] for p in net.current()["participants"]}
    assert shares == {account(0): "3", account(1): "1", account(2): "2"}
    assert net.current()["round"]["threshold_units"] == "4"
    final = net.run_round(withhold=[account(0)])
    assert final["round"]["status"] == COMPLETE


def test_old_rounds_are_pruned_after_history_rounds() -> None:
    net = BeaconNet.start(params={"history_rounds": 2})
    for _ in range(4):
        net.run_round()
    assert net.chain.query_raw("/beacon/round/1").code == errors.ROUND_NOT_FOUND.code
    assert net.chain.query("/beacon/round/3")["round"]["status"] == COMPLETE


# --- refusals, each with its own code, each changing nothing ---------------------------------

def test_a_forged_share_is_refused_with_its_code() -> None:
    net = BeaconNet.start()
    withholder, poster = net.operators[0], net.operators[1]
    net.deal()
    net.reveal(net.operators[1:])
    net.wait_for_window("recovery")
    (signer, message), = net.recover_messages([poster])
    forged = beacon_pb2.MsgBeaconRecover()
    forged.CopyFrom(message)
    forged.dealers[0].shares[0] = group.add(forged.dealers[0].shares[0],
                                            group.SECOND_GENERATOR)
    before = beacon_state(net)
    outcome, = net.deliver_each([(signer, forged)])
    assert outcome.code == errors.FORGED_SHARE.code, outcome.log
    assert beacon_state(net)[1] == before[1]
    assert withholder in outcome.log


def test_a_reveal_that_does_not_match_its_commitment_is_refused_with_its_code() -> None:
    net = BeaconNet.start()
    dealer = net.operators[0]
    net.deal()
    net.wait_for_window("reveal")
    wrong = group.s_add(net.secrets[(1, dealer)], group.ONE)
    before = beacon_state(net)
    outcome, = net.deliver_each([(dealer, reveal_message(wrong, 1, dealer))])
    assert outcome.code == errors.REVEAL_MISMATCH.code
    assert beacon_state(net)[1] == before[1]


def test_a_deal_with_inconsistent_commitments_is_refused_at_check_tx() -> None:
    net = BeaconNet.start()
    net.wait_for_window("commit")
    (dealer, message), = net.deal_messages([net.operators[0]])
    message.share_commitments[0], message.share_commitments[1] = (
        message.share_commitments[1], message.share_commitments[0])
    tx = net.chain.sign(dealer, [message])
    assert net.chain.check(tx).code == errors.INCONSISTENT_DEAL.code


def test_a_deal_whose_encrypted_share_hides_another_value_is_refused() -> None:
    net = BeaconNet.start()
    net.wait_for_window("commit")
    (dealer, message), = net.deal_messages([net.operators[0]])
    victim_key = bytes.fromhex(net.current()["participants"][2]["public_key"])
    message.encrypted_shares[2] = group.mul(group.random_scalar(), victim_key)
    before = beacon_state(net)
    outcome, = net.deliver_each([(dealer, message)])
    assert outcome.code == errors.INCONSISTENT_DEAL.code
    assert "encrypted share 3" in outcome.log
    assert beacon_state(net)[1] == before[1]


def test_a_deal_of_the_wrong_shape_is_malformed() -> None:
    net = BeaconNet.start()
    net.wait_for_window("commit")
    (dealer, message), = net.deal_messages([net.operators[0]])
    del message.proofs[-1]
    outcome, = net.deliver_each([(dealer, message)])
    assert outcome.code == errors.MALFORMED_DEAL.code


def test_deals_outside_the_commit_window_twice_or_by_outsiders_are_refused() -> None:
    net = BeaconNet.start(powers=(10, 10, 10, 10))
    net.wait_for_window("commit")
    messages = net.deal_messages()
    first, = net.deliver_each(messages[:1])
    assert first.ok
    again, = net.deliver_each(net.deal_messages([messages[0][0]]))
    assert again.code == errors.ALREADY_DEALT.code
    outsider = account(100)
    stolen = beacon_pb2.MsgBeaconDeal()
    stolen.CopyFrom(messages[1][1])
    stolen.dealer = outsider
    refused, = net.deliver_each([(outsider, stolen)])
    assert refused.code == errors.NOT_A_PARTICIPANT.code
    impostor, = net.deliver_each([(outsider, messages[1][1])])
    assert impostor.code == errors.SIGNER_MISMATCH.code
    net.wait_for_window("reveal")
    late, = net.deliver_each(messages[2:3])
    assert late.code == errors.WRONG_WINDOW.code
    wrong_round = beacon_pb2.MsgBeaconDeal()
    wrong_round.CopyFrom(messages[3][1])
    wrong_round.round = 9
    stale, = net.deliver_each([(messages[3][0], wrong_round)])
    assert stale.code == errors.WRONG_ROUND.code


def test_a_reveal_too_early_is_refused() -> None:
    net = BeaconNet.start()
    dealer = net.operators[0]
    net.deal()
    early, = net.deliver_each([(dealer, reveal_message(net.secrets[(1, dealer)], 1, dealer))])
    assert early.code == errors.WRONG_WINDOW.code


def test_shares_for_a_revealed_secret_or_posted_twice_are_refused() -> None:
    net = BeaconNet.start(powers=(10,) * 5)
    withholder = net.operators[0]
    net.deal()
    net.reveal(net.operators[1:])
    net.wait_for_window("recovery")
    (signer, message), = net.recover_messages([net.operators[1]])
    assert net.deliver_each([(signer, message)])[0].ok
    twice, = net.deliver_each([(signer, message)])
    assert twice.code == errors.SHARES_ALREADY_POSTED.code
    revealed = beacon_pb2.MsgBeaconRecover()
    revealed.CopyFrom(message)
    revealed.dealers[0].dealer = net.operators[2]
    refused, = net.deliver_each([(signer, revealed)])
    assert refused.code == errors.NOTHING_TO_RECOVER.code
    assert withholder not in refused.log


def test_shares_after_recovery_are_skipped_not_refused() -> None:
    net = BeaconNet.start()
    net.deal()
    net.reveal(net.operators[1:])
    outcomes = net.recover()  # four posters, the threshold is three
    assert [o.ok for o in outcomes] == [True] * 4
    assert net.current()["round"]["recovered"] == "1"


# --- keys ------------------------------------------------------------------------------------

def test_only_an_operator_with_weight_registers_a_key_and_only_with_its_own_proof() -> None:
    net = BeaconNet.start(register=False)
    key = EncryptionKey.generate()
    outsider = account(100)
    refused, = net.deliver_each([(outsider, register_key_message(key, CHAIN_ID, outsider))])
    assert refused.code == errors.NOT_AN_OPERATOR.code
    operator = net.operators[0]
    copied = register_key_message(key, CHAIN_ID, net.operators[1])
    copied.operator = operator
    stolen, = net.deliver_each([(operator, copied)])
    assert stolen.code == errors.BAD_KEY_PROOF.code
    other_chain, = net.deliver_each([(operator, register_key_message(key, "other", operator))])
    assert other_chain.code == errors.BAD_KEY_PROOF.code
    not_a_point = register_key_message(key, CHAIN_ID, operator)
    not_a_point.public_key = group.IDENTITY
    assert net.deliver_each([(operator, not_a_point)])[0].code == errors.INVALID_KEY.code
    ok, = net.deliver_each([(operator, register_key_message(key, CHAIN_ID, operator))])
    assert ok.ok
    answer = net.chain.query(f"/beacon/key/{operator}")
    assert (answer["found"], answer["key"]["public_key"]) == (True, key.public_key.hex())


def test_a_new_key_applies_from_the_next_round() -> None:
    net = BeaconNet.start()
    operator = net.operators[0]
    old = net.current()["participants"][0]["public_key"]
    fresh = EncryptionKey.generate()
    assert net.deliver_each([(operator, register_key_message(fresh, CHAIN_ID, operator))])[0].ok
    assert net.current()["participants"][0]["public_key"] == old
    net.run_round()
    members = {p["address"]: p["public_key"] for p in net.current()["participants"]}
    assert members[operator] == fresh.public_key.hex()


@pytest.mark.parametrize("path", ["/beacon/round/x", "/beacon/round/\u0663",
                                  "/beacon/round/-1", "/beacon/key/nope", "/beacon/deal/1",
                                  "/beacon/record/"])
def test_bad_queries_are_refused(path: str) -> None:
    net = BeaconNet.start(register=False)
    assert net.chain.query_raw(path).code != 0


def test_the_round_query_lists_participants_and_their_indices() -> None:
    net = BeaconNet.start(powers=(10, 20))
    answer = net.current()
    assert [(p["address"], p["units"], p["first_index"]) for p in answer["participants"]] \
        == sorted([(account(0), "1", "1"), (account(1), "2", "2")])
    assert answer["non_revealers"] == []
