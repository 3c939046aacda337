"""Held rewards and their release at a Race cycle's end, through the real app
(docs/rewards.md, "Release"): a clean node is paid and its reputation grows; a caught node
forfeits the cycle and its reputation resets; a verifier that skipped a drawn check loses
its validation share; a node that did too little of its fair share of work is paid in
proportion; bounties stay below honest pay; the supply invariant holds throughout."""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import keeper
from abci_app.modules.rewards.keeper import forfeit_pool_address
from tests.rewards.net import RewardsNet

UNITS = 3
PRICE = 1000


def charge(prompt: int, completion: int) -> int:
    return (prompt + completion) * UNITS * PRICE


def test_a_clean_cycle_is_released_at_its_end_and_reputation_grows() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0})
    executor = net.operators[1]
    net.fund_key(10**12)
    before = net.balance(executor)
    net.settle(executor, [(10, 20), (5, 5)])
    held = net.held(executor)
    pool = net.pool(net.cycle())
    assert held > 0 and net.balance(executor) == before

    closed = net.close_cycle()

    assert net.held(executor) == 0
    # Nobody was drawn to check anything: the verifiers' pool goes to the executor too.
    assert net.balance(executor) - before == held + pool
    assert net.node_cycle(closed, executor)["outcome"] == "released"
    assert [net.reputation(op) for op in net.operators] == [1, 1, 1, 1]
    net.close_cycle()
    assert [net.reputation(op) for op in net.operators] == [2, 2, 2, 2]
    assert net.invariants() == []


def test_rewards_are_held_for_release_delay_cycles() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 1, "minimum_issuance_ppm": 0})
    executor = net.operators[0]
    net.fund_key(10**12)
    net.settle(executor, [(10, 20)])
    held = net.held(executor) + net.pool(net.cycle())
    first = net.close_cycle(race=False)
    answer = net.chain.query(f"/rewards/held/{executor}")
    assert int(answer["held_total_nicoin"]) == net.held(executor)
    assert answer["held"][0]["released_at_cycle"] == str(first + 1)

    net.close_cycle(race=False)

    assert net.held(executor) == 0
    assert net.node_cycle(first, executor)["released"] == str(held)
    assert net.invariants() == []


def test_a_node_caught_in_the_race_forfeits_the_cycle_and_its_reputation_resets() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0})
    cheater, honest = net.operators[2], net.operators[1]
    net.close_cycle()
    assert net.reputation(cheater) == 1
    net.fund_key(10**12)
    net.settle(cheater, [(10, 20)])
    net.settle(honest, [(10, 20)])
    held = net.held(cheater)
    pool_before = net.balance(forfeit_pool_address())
    cheater_before = net.balance(cheater)

    closed = net.close_cycle(open_only=[op for op in net.operators if op != cheater])

    entry = net.node_cycle(closed, cheater)
    assert entry["caught"] is True and entry["outcome"] == "caught"
    assert entry["caught_reason"].startswith("race: opened 0 of")
    assert int(entry["forfeited"]) == held
    assert net.balance(cheater) == cheater_before
    assert net.balance(forfeit_pool_address()) - pool_before == held
    assert net.reputation(cheater) == 0
    assert net.reputation(honest) == 2
    assert net.node_cycle(closed, honest)["outcome"] == "released"
    assert net.invariants() == []


def test_a_verifier_that_skipped_a_drawn_check_loses_its_validation_share_and_that_part_of_its_work(
) -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0})
    executor, diligent, skipper = net.operators[0], net.operators[1], net.operators[2]
    net.fund_key(10**12)
    net.settle(executor, [(100, 200)])
    net.settle(skipper, [(100, 200)])
    cycle = net.cycle()

    def checks(ctx: Context, closing: int) -> None:
        keeper.record_verification(ctx, diligent, closing, drawn=2, done=2)
        keeper.record_verification(ctx, skipper, closing, drawn=3, done=2)
    net.script.at(cycle, checks)
    pool = net.pool(cycle)
    skipper_work = net.held(skipper)
    balances = {op: net.balance(op) for op in (diligent, skipper)}

    net.close_cycle()

    # The pool is divided by checks done (2 and 2); the skipper's half is forfeited, and
    # so is a third of its work rewards (it skipped one of its three drawn checks).
    assert net.balance(diligent) - balances[diligent] == pool // 2
    cut = skipper_work // 3
    assert cut > 0
    assert net.balance(skipper) - balances[skipper] == skipper_work - cut
    outcome = net.node_cycle(cycle, skipper)
    assert outcome["outcome"] == "validation_share_lost"
    assert int(outcome["forfeited"]) == pool - pool // 2 + cut
    assert net.reputation(skipper) == 0 and net.reputation(diligent) == 1
    assert net.invariants() == []


def test_without_checks_the_verification_pool_goes_to_the_executors() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0})
    executor = net.operators[3]
    net.fund_key(10**12)
    net.settle(executor, [(100, 200)])
    cycle = net.cycle()
    pool = net.pool(cycle)
    held = net.held(executor)
    before = net.balance(executor)

    net.close_cycle()

    assert pool > 0
    assert net.balance(executor) - before == held + pool


def test_repeated_false_flags_cost_the_validation_share() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0,
                                    "max_false_flags_per_cycle": 1})
    flagger = net.operators[1]
    net.fund_key(10**12)
    net.settle(net.operators[0], [(100, 200)])
    cycle = net.cycle()

    def flags(ctx: Context, closing: int) -> None:
        keeper.record_verification(ctx, flagger, closing, drawn=1, done=1)
        keeper.record_false_flag(ctx, flagger, closing)
        keeper.record_false_flag(ctx, flagger, closing)
    net.script.at(cycle, flags)
    before = net.balance(flagger)

    net.close_cycle()

    assert net.balance(flagger) == before
    assert net.node_cycle(cycle, flagger)["outcome"] == "validation_share_lost"
    record = net.chain.query(f"/rewards/reputation/{flagger}")["reputation"]
    assert record["false_flags"] == "2"


def test_a_node_short_of_its_fair_share_of_work_is_paid_in_proportion() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 0, "minimum_issuance_ppm": 0,
                                    "min_expected_tasks": 4, "min_work_share_ppm": 500_000})
    busy, idle = net.operators[0], net.operators[1]
    net.fund_key(10**12)
    # 40 tasks among four equal weights: a fair share is 10, the rule asks for 5.
    net.settle(busy, [(10, 10)] * 38)
    net.settle(idle, [(10, 10)] * 2)
    cycle = net.cycle()
    net.script.at(cycle, lambda ctx, closing: keeper.record_verification(
        ctx, busy, closing, drawn=1, done=1))
    held = {op: net.held(op) for op in (busy, idle)}
    before = {op: net.balance(op) for op in (busy, idle)}

    net.close_cycle()

    assert net.balance(busy) - before[busy] == held[busy] + net.pool(cycle)
    paid_idle = net.balance(idle) - before[idle]
    share = [n for n in net.chain.query(f"/rewards/cycle/{cycle}")["nodes"]
             if n["node"] == idle][0]
    assert share["outcome"] == "work_short"
    # 2 tasks of the 5 asked: two fifths of what it held.
    assert paid_idle == held[idle] * 2 // 5
    assert int(share["forfeited"]) == held[idle] - paid_idle
    assert net.reputation(idle) == 0
    assert net.invariants() == []


def test_a_catch_recorded_by_verification_forfeits_and_accruals_after_it_follow() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 1, "minimum_issuance_ppm": 0})
    cheater = net.operators[0]
    net.close_cycle(race=False)
    net.close_cycle(race=False)
    net.fund_key(10**12)
    net.settle(cheater, [(10, 20)])
    cycle = net.cycle()
    held = net.held(cheater)
    forfeited: list[int] = []

    def catch(ctx: Context, closing: int) -> None:
        forfeited.append(keeper.record_caught(ctx, cheater, closing, "replay failed"))
        forfeited.append(keeper.record_caught(ctx, cheater, closing, "twice"))
    net.script.at(cycle, catch)
    net.close_cycle(race=False)

    assert forfeited == [held, 0]
    assert net.held(cheater) == 0
    assert net.reputation(cheater) == 0
    assert net.node_cycle(cycle, cheater)["caught_reason"] == "replay failed"
    assert net.invariants() == []


def test_a_bounty_never_pays_more_than_honest_work_earns_in_the_cycle() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 1, "minimum_issuance_ppm": 0,
                                    "bounty_cap_ppm": 500_000})
    cheater, reporter = net.operators[0], net.developer
    net.fund_key(10**12)
    for op in net.operators:
        net.settle(op, [(10, 20)])
    cycle = net.cycle()
    paid: list[int] = []

    def report(ctx: Context, closing: int) -> None:
        keeper.record_caught(ctx, cheater, closing, "user report stood")
        average = keeper.average_earnings(ctx, closing)
        paid.append(average)
        paid.append(keeper.pay_bounty(ctx, reporter, closing, 10**15))
        paid.append(keeper.pay_bounty(ctx, reporter, closing, 10**15))
        paid.append(keeper.refund_developer(ctx, reporter, 10**15, closing))
    net.script.at(cycle, report)
    pool_before = net.balance(forfeit_pool_address())
    before = net.balance(reporter)
    net.close_cycle(race=False)

    average, first, second, refund = paid
    assert first == average // 2 and second == 0
    assert net.balance(reporter) - before == first + refund
    assert net.balance(forfeit_pool_address()) == 0 and pool_before == 0
    assert net.invariants() == []


def test_the_supply_invariant_and_the_escrow_hold_through_cycles_of_settlements() -> None:
    net = RewardsNet.start(rewards={"release_delay_cycles": 1})
    net.fund_key(10**13)
    for round_number in range(3):
        for index, op in enumerate(net.operators):
            net.settle(op, [(10 + index, 20 + round_number)])
        assert net.invariants() == []
        ctx = net.context()
        assert bank.supply_invariant(ctx) == []
        net.close_cycle(race=round_number != 1)
        assert net.invariants() == []
