"""The race module through the real app (tests/harness.py): cycles seeded and sampled by the
beacon, accepted counts becoming validator power in the boundary block, nodes caught for
failing validation or for not opening, the liveness rules, open entry, and each refusal
with its own code and no state change (docs/race.md)."""

from __future__ import annotations

from typing import Any

import pytest

import abci_app.tx as txlib
from abci_app.modules.race import errors
from abci_app.modules.staking.keeper import consensus_address
from race_protocol.gen.race.v1 import bank_pb2, race_pb2
from race_protocol.race.merkle import Leaf
from race_protocol.race.power import capped_powers
from tests.harness import account, key_from_seed, validator_key
from tests.race_cycle.net import RaceNet, synthetic_leaves

CLOSED = "RACE_CYCLE_STATUS_CLOSED"
ACCEPTED = "RACE_ENTRY_STATUS_ACCEPTED"
CAUGHT = "RACE_ENTRY_STATUS_CAUGHT"
DECIDED = "RACE_CYCLE_OUTCOME_DECIDED"
KEPT = "RACE_CYCLE_OUTCOME_KEPT_PREVIOUS"


def leaves_for(net: RaceNet, base: int = 20, step: int = 5, seed: int = 0
               ) -> dict[str, list[Leaf]]:
    return {op: synthetic_leaves(base + step * i, seed + i) for i, op in enumerate(net.operators)}


def race_state(net: RaceNet) -> tuple[Any, ...]:
    """Everything a refused race message must leave unchanged."""
    cycle = net.cycle()
    return (cycle, net.chain.query(f"/race/results/{cycle['cycle']}")["entries"],
            net.chain.query("/race/providers"))


@pytest.fixture
def net() -> RaceNet:
    return RaceNet.start()


@pytest.fixture
def slow_net() -> RaceNet:
    """Windows long enough for a test to send several blocks of refusals in one."""
    return RaceNet.start(race_params={"race_window_blocks": 30, "commit_window_blocks": 10,
                                      "open_window_blocks": 20,
                                      "validation_window_blocks": 20})


# --- the cycle -----------------------------------------------------------------------------

def test_a_cycle_turns_accepted_counts_into_power_in_the_boundary_block(net: RaceNet) -> None:
    leaves = leaves_for(net)
    closed = net.run_cycle(leaves)

    assert closed["outcome"] == DECIDED and closed["accepted"] == "4"
    counts = {op: len(ls) for op, ls in leaves.items()}
    expected = capped_powers(counts, net.chain.params("race").max_power_share_ppm)
    assert net.powers() == expected
    boundary = int(closed["validation_end_height"])
    updates = dict(net.updates[boundary])
    assert {op: updates[validator_key(i)] for i, op in enumerate(net.operators)} == expected
    results = net.results(int(closed["cycle"]))
    assert {op: int(e["new_power"]) for op, e in results.items()} == expected
    assert {e["status"] for e in results.values()} == {ACCEPTED}


def test_the_seed_and_the_samples_come_from_complete_rounds_after_the_cycle_and_the_deadline(
        net: RaceNet) -> None:
    closed = net.run_cycle(leaves_for(net))
    seed_round = net.chain.query(f"/beacon/round/{closed['seed_round']}")["round"]
    sample_round = net.chain.query(f"/beacon/round/{closed['sample_round']}")["round"]

    assert seed_round["status"] == sample_round["status"] == "BEACON_ROUND_STATUS_COMPLETE"
    assert closed["race_seed"] == seed_round["output"]
    assert int(closed["race_start_height"]) == int(seed_round["end_height"]) + 1
    assert closed["sample_seed"] == sample_round["output"]
    # Every reveal of the sampling round came after the last block a root could land in.
    assert int(sample_round["commit_end_height"]) >= int(closed["commit_end_height"])


def test_a_failed_beacon_round_never_seeds_a_race(net: RaceNet) -> None:
    net.run_cycle(leaves_for(net))
    round_id = int(net.beacon.current()["round"]["round"])
    net.skip_reveals(round_id)
    net.advance_until(lambda: net.chain.query(f"/beacon/round/{round_id}")["round"]["status"]
                      == "BEACON_ROUND_STATUS_FAILED")
    cycle = net.wait_for_status("racing")
    assert int(cycle["seed_round"]) > round_id


def test_cycles_follow_each_other_unattended(net: RaceNet) -> None:
    first = net.run_cycle(leaves_for(net, seed=1))
    second = net.run_cycle(leaves_for(net, seed=2))
    assert int(second["cycle"]) == int(first["cycle"]) + 1
    assert int(second["seed_round"]) > int(first["sample_round"])
    assert net.chain.query("/app/invariants")["broken"] == []


def test_a_node_whose_sample_fails_validation_is_caught_and_drops_to_zero(
        net: RaceNet) -> None:
    cheat = net.operators[3]
    verdicts = {a: {op: op != cheat for op in net.operators if op != a} for a in net.operators}
    closed = net.run_cycle(leaves_for(net), verdicts)

    entry = net.results(int(closed["cycle"]))[cheat]
    assert entry["status"] == CAUGHT and "does not recompute" in entry["reason"]
    assert cheat not in net.powers() and len(net.powers()) == 3
    record = net.chain.query(f"/race/provider/{cheat}")["record"]
    assert record["caught"] == "1" and record["last_caught_cycle"] == closed["cycle"]
    assert [attrs["operator"] for _, attrs in net.block_events("race_caught")] == [cheat]


def test_a_node_that_does_not_open_its_samples_is_caught(net: RaceNet) -> None:
    silent = net.operators[1]
    leaves = leaves_for(net)
    closed = net.run_cycle(leaves, open_only=[op for op in net.operators if op != silent],
                           verdicts={a: {op: True for op in net.operators
                                         if op not in (a, silent)} for a in net.operators})
    entry = net.results(int(closed["cycle"]))[silent]
    assert entry["status"] == CAUGHT and "opened 0 of its 8" in entry["reason"]
    assert closed["opened"] == "3" and silent not in net.powers()


def test_a_node_counts_its_own_weight_so_one_absent_validator_refuses_nobody() -> None:
    """Powers 30/25/25/20 and the second node away: the heaviest node is judged by 45% of
    the weight, passes with its own 30%, and the cycle accepts all three that raced."""
    net = RaceNet.start(powers=(30, 25, 25, 20))
    away = net.operators[1]
    present = [op for op in net.operators if op != away]
    leaves = {op: synthetic_leaves(20, i) for i, op in enumerate(present)}
    closed = net.run_cycle(leaves, verdicts={a: {op: True for op in present if op != a}
                                             for a in present})

    results = net.results(int(closed["cycle"]))
    assert {results[op]["status"] for op in present} == {ACCEPTED}
    assert results[net.operators[0]]["pass_weight"] == "75"
    assert set(net.powers()) == set(present)


def test_too_few_attestations_keep_the_previous_weights(net: RaceNet) -> None:
    before = net.powers()
    one = net.operators[0]
    closed = net.run_cycle(leaves_for(net),
                           verdicts={one: {op: True for op in net.operators if op != one}})
    assert closed["outcome"] == KEPT and closed["attesting_weight"] == "10"
    assert net.powers() == before
    assert {e["status"] for e in net.results(int(closed["cycle"])).values()} == \
        {"RACE_ENTRY_STATUS_REJECTED"}


def test_a_cycle_nobody_commits_in_closes_at_the_commit_deadline_keeping_weights(
        net: RaceNet) -> None:
    before = net.powers()
    cycle = net.wait_for_status("racing")
    net.advance_until(lambda: net.cycle(int(cycle["cycle"]))["status"] == CLOSED)
    closed = net.cycle(int(cycle["cycle"]))
    assert closed["outcome"] == KEPT and int(closed["validation_end_height"]) == 0
    assert net.powers() == before


def test_a_node_without_an_accepted_proof_fades_to_zero(net: RaceNet) -> None:
    absent = net.operators[2]
    leaves = leaves_for(net)
    del leaves[absent]
    net.run_cycle(leaves)
    assert absent not in net.powers()
    assert set(net.powers()) == set(leaves)


# --- open entry ----------------------------------------------------------------------------

def new_provider(net: RaceNet, seed: int) -> tuple[str, bytes]:
    """A funded account and a fresh consensus key."""
    operator = net.chain.add_key(key_from_seed(seed))
    outcome = net.block([(account(0), send(account(0), operator))])[0]
    assert outcome.ok, outcome.log
    consensus = txlib.public_key_bytes(key_from_seed(seed + 1))
    return operator, consensus


def send(sender: str, recipient: str) -> bank_pb2.MsgSend:
    return bank_pb2.MsgSend(from_address=sender, to_address=recipient, amount_nicoin=10**12)


def register(net: RaceNet, operator: str, consensus: bytes, identity: str = "sha256:ab"
             ) -> Any:
    return net.block([(operator, race_pb2.MsgRegisterProvider(
        operator=operator, consensus_pub_key=consensus, sidecar_identity=identity))])[0]


def test_a_registered_provider_races_from_the_next_cycle_and_becomes_a_validator(
        net: RaceNet) -> None:
    operator, consensus = new_provider(net, 77_000)
    current = int(net.cycle()["cycle"])
    assert register(net, operator, consensus).ok
    provider = net.chain.query(f"/race/provider/{operator}")["provider"]
    assert provider["first_cycle"] == str(current + 1) and provider["power"] == "0"

    this_cycle = int(net.wait_for_status("racing")["cycle"])
    if this_cycle == current:
        early = net.block([(operator, net.commit_message(operator, this_cycle,
                                                         synthetic_leaves(10, 5)))])[0]
        assert early.code == errors.NOT_RACING_YET.code, early.log
        net.advance_until(lambda: net.cycle()["cycle"] != str(this_cycle))
    leaves = {**leaves_for(net), operator: synthetic_leaves(25, 99)}
    closed = net.run_cycle(leaves)

    assert net.results(int(closed["cycle"]))[operator]["status"] == ACCEPTED
    assert net.powers()[operator] == 25
    boundary = int(closed["validation_end_height"])
    assert (consensus, 25) in net.updates[boundary]
    validators = net.chain.query("/staking/validators")["validators"]
    mine = [v for v in validators if v["address"] == consensus_address(consensus).hex().upper()]
    assert mine and mine[0]["operator"] == operator


def test_registration_refuses_a_taken_operator_key_or_sidecar_each_with_its_own_code(
        net: RaceNet) -> None:
    operator, consensus = new_provider(net, 78_000)
    other, other_key = new_provider(net, 79_000)
    assert register(net, operator, consensus, "sha256:one").ok
    before = net.chain.query("/race/providers")

    assert register(net, operator, other_key, "sha256:two").code == \
        errors.OPERATOR_ALREADY_REGISTERED.code
    assert register(net, other, consensus, "sha256:two").code == errors.CONSENSUS_KEY_TAKEN.code
    assert register(net, other, validator_key(0), "sha256:two").code == \
        errors.CONSENSUS_KEY_TAKEN.code
    assert register(net, other, other_key, "sha256:one").code == errors.SIDECAR_TAKEN.code
    assert register(net, other, b"\x01" * 32, "sha256:two").code == errors.INVALID_PUB_KEY.code
    assert register(net, other, other_key, "has space").code == \
        errors.INVALID_SIDECAR_IDENTITY.code
    assert net.chain.query("/race/providers") == before


# --- refusals ------------------------------------------------------------------------------

def test_commit_refusals_each_have_their_own_code(slow_net: RaceNet) -> None:
    net = slow_net
    ops = net.operators
    waiting = int(net.cycle()["cycle"])
    early = net.block([(ops[0], net.commit_message(ops[0], waiting, synthetic_leaves(5, 1)))])
    assert early[0].code == errors.WRONG_WINDOW.code, early[0].log
    cycle = int(net.wait_for_status("racing")["cycle"])
    assert net.block([(ops[0], net.commit_message(ops[0], cycle, synthetic_leaves(5, 1)))])[0].ok
    before = race_state(net)

    outsider = net.chain.add_key(key_from_seed(80_000))
    assert net.block([(ops[1], send(ops[1], outsider))])[0].ok
    before = race_state(net)
    refusals = net.block([
        (ops[0], net.commit_message(ops[0], cycle, synthetic_leaves(6, 2))),
        (ops[1], net.commit_message(ops[1], cycle + 1, synthetic_leaves(6, 2))),
        (ops[2], race_pb2.MsgCommitProof(operator=ops[2], cycle=cycle, root=b"x" * 31,
                                         count=3)),
        (ops[2], race_pb2.MsgCommitProof(operator=ops[2], cycle=cycle, root=b"x" * 32,
                                         count=0)),
        (ops[3], race_pb2.MsgCommitProof(operator=ops[2], cycle=cycle, root=b"x" * 32,
                                         count=3)),
        (outsider, race_pb2.MsgCommitProof(operator=outsider, cycle=cycle, root=b"x" * 32,
                                           count=3)),
    ])
    assert [o.code for o in refusals] == [
        errors.ALREADY_COMMITTED.code, errors.WRONG_CYCLE.code, errors.INVALID_COMMITMENT.code,
        errors.INVALID_COMMITMENT.code, errors.SIGNER_MISMATCH.code, errors.NOT_A_PROVIDER.code]
    assert all(o.log for o in refusals)
    assert race_state(net) == before


def test_openings_that_do_not_prove_the_sampled_leaves_are_refused(slow_net: RaceNet) -> None:
    net = slow_net
    ops = net.operators
    cycle = int(net.wait_for_status("racing")["cycle"])
    leaves = leaves_for(net)
    # ops[1] commits a tree but holds a different one when it opens.
    outcomes = net.block((op, net.commit_message(op, cycle, ls)) for op, ls in leaves.items())
    assert all(o.ok for o in outcomes)
    honest_tree = net.trees[(cycle, ops[1])]
    net.commit_message(ops[1], cycle + 100, synthetic_leaves(len(leaves[ops[1]]), 555))
    net.trees[(cycle, ops[1])] = net.trees[(cycle + 100, ops[1])]
    net.wait_for_status("opening")
    before = race_state(net)
    far = race_pb2.MsgOpenProof(operator=ops[2], cycle=cycle)
    far.openings.add(sample=99)
    hot = net.open_message(ops[3], cycle, [0])
    hot.openings[0].distance_scaled = net.chain.params("race").threshold_scaled

    refusals = net.block([
        (ops[1], net.open_message(ops[1], cycle)),
        (ops[2], far),
        (ops[3], hot),
        (ops[0], race_pb2.MsgOpenProof(operator=ops[0], cycle=cycle)),
    ])
    assert [o.code for o in refusals] == [
        errors.OPENING_MISMATCH.code, errors.UNKNOWN_SAMPLE.code, errors.NOT_QUALIFYING.code,
        errors.MALFORMED_OPENING.code]
    assert race_state(net) == before

    net.trees[(cycle, ops[1])] = honest_tree
    assert net.block([(ops[0], net.open_message(ops[0], cycle, [0]))])[0].ok
    again = net.block([(ops[0], net.open_message(ops[0], cycle, [0, 1]))])[0]
    assert again.code == errors.SAMPLE_ALREADY_OPENED.code
    assert net.block([(ops[1], net.open_message(ops[1], cycle))])[0].ok
    assert net.results(cycle)[ops[1]]["status"] == "RACE_ENTRY_STATUS_OPENED"


def test_attestation_refusals_each_have_their_own_code(slow_net: RaceNet) -> None:
    net = slow_net
    ops = net.operators
    cycle = int(net.wait_for_status("racing")["cycle"])
    net.block((op, net.commit_message(op, cycle, ls)) for op, ls in leaves_for(net).items())
    net.wait_for_status("opening")
    net.block((op, net.open_message(op, cycle)) for op in ops)
    net.wait_for_status("validating")
    outsider = net.chain.add_key(key_from_seed(81_000))
    assert net.block([(ops[1], send(ops[1], outsider))])[0].ok
    good = net.attest_message(ops[0], cycle, {ops[1]: True})
    assert net.block([(ops[0], good)])[0].ok
    before = race_state(net)

    both = net.attest_message(ops[2], cycle, {ops[1]: True})
    both.failed = both.passed
    refusals = net.block([
        (ops[0], net.attest_message(ops[0], cycle, {ops[2]: True})),
        (ops[1], net.attest_message(ops[1], cycle, {ops[1]: True})),
        (ops[2], both),
        (ops[3], race_pb2.MsgAttest(attester=ops[3], cycle=cycle, passed=b"\x00" * 5)),
        (outsider, race_pb2.MsgAttest(attester=outsider, cycle=cycle, passed=b"\x00")),
    ])
    assert [o.code for o in refusals] == [
        errors.ALREADY_ATTESTED.code, errors.SELF_VERDICT.code, errors.INVALID_VERDICTS.code,
        errors.INVALID_VERDICTS.code, errors.NOT_WEIGHTED.code]
    assert race_state(net) == before


# --- genesis and queries -------------------------------------------------------------------

def test_genesis_validators_with_operators_are_the_first_providers(net: RaceNet) -> None:
    providers = net.chain.query("/race/providers")["providers"]
    assert [p["operator"] for p in providers] == sorted(net.operators)
    assert {p["consensus_pub_key"] for p in providers} == \
        {validator_key(i).hex() for i in range(4)}


def test_export_keeps_the_providers_and_the_cycle_numbering(net: RaceNet) -> None:
    net.run_cycle(leaves_for(net))
    ctx = net.chain.keeper_context()
    section = net.chain.registry.module("race").export_genesis(ctx)
    assert section["next_cycle"] == net.cycle()["cycle"]
    assert sorted(p["operator"] for p in section["providers"]) == sorted(net.operators)


def test_status_names_the_window_and_its_deadline(net: RaceNet) -> None:
    cycle = net.wait_for_status("racing")
    status = net.status()
    assert status["phase"].startswith("racing")
    assert status["window_end_height"] == cycle["race_end_height"]
    assert int(status["blocks_left"]) == int(cycle["race_end_height"]) - int(status["height"])


def test_unknown_cycles_and_bad_arguments_are_refused(net: RaceNet) -> None:
    assert net.chain.query_raw("/race/cycle/99").code == errors.CYCLE_NOT_FOUND.code
    assert net.chain.query_raw("/race/samples/1/notanaddress").code == 4
    assert net.chain.query_raw("/race/results/x").code == 4
