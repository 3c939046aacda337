"""The whitepaper's tokenomics through the real app (docs/rewards.md, "Issuance"): issuing
Appendix F's fee column batch by batch reproduces its table to the coin, the minimum
issuance is shared by work in block time, issuance stops at the core incentive, and the
genesis allocation is Appendix E's."""

from __future__ import annotations

import pytest

from abci_app.genesis import GenesisError, build_app_state, validate_app_state
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import issuance
from abci_app.modules.rewards.module import whitepaper_allocations
from race_protocol.gen.race.v1 import bank_pb2
from race_protocol.rewards.tokenomics import (
    BATCH_NICOIN,
    CORE_INCENTIVE_NICOIN,
    NICOIN_PER_ICOIN,
    YEAR_SECONDS,
    BatchProgress,
    issuance_ratio,
    issue_for_fees,
    issue_minimum,
    minimum_due,
    minimum_for_year,
    schedule,
    subsidy_share,
    to_icoin_rounded,
)
from tests.harness import GENESIS_TIME_S, Chain, account
from tests.rewards.net import DEVELOPER, RELAY_OWNER, RewardsNet, icoin

# Appendix F, "Race's dynamic supply-driven halving": per batch, the coins issued, the
# subsidy share, the fees paid by developers and the total paid to hardware providers.
APPENDIX_F = [
    (1, 50_000_000, "90.00%", 5_555_556, 55_555_556),
    (2, 50_000_000, "72.00%", 19_444_444, 69_444_444),
    (3, 50_000_000, "57.60%", 36_805_556, 86_805_556),
    (4, 50_000_000, "46.08%", 58_506_944, 108_506_944),
    (5, 50_000_000, "36.86%", 85_633_681, 135_633_681),
    (6, 50_000_000, "29.49%", 119_542_101, 169_542_101),
    (7, 50_000_000, "23.59%", 161_927_626, 211_927_626),
    (8, 50_000_000, "18.87%", 214_909_532, 264_909_532),
    (9, 50_000_000, "15.10%", 281_136_915, 331_136_915),
    (10, 50_000_000, "12.08%", 363_921_144, 413_921_144),
    (11, 50_000_000, "9.66%", 467_401_430, 517_401_430),
    (12, 50_000_000, "7.73%", 596_751_788, 646_751_788),
]
# Everything but the core incentive exists at genesis: at most 40% of the supply.
GENESIS_ICOIN = 399_999_000
# A ticket charges one icoin per token (units 1 x price 10^9 nicoin), and carries at most
# 2^32 - 1 tokens.
MAX_TICKET_ICOIN = 2**32 - 1
ALL_TO_PROVIDERS = {"executor_share_ppm": 1_000_000, "relay_share_ppm": 0,
                    "verifier_share_ppm": 0, "training_fund_share_ppm": 0}
ISSUANCE_TO_PROVIDERS = {"issuance_executor_share_ppm": 1_000_000,
                         "issuance_verifier_share_ppm": 0,
                         "issuance_training_fund_share_ppm": 0,
                         "minimum_issuance_ppm": 0, "release_delay_cycles": 0}


def _percent(share: tuple[int, int]) -> str:
    """A share as the whitepaper prints it: a percentage with two decimals, half up."""
    hundredths = (share[0] * 10_000 * 2 + share[1]) // (2 * share[1])
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def test_the_schedule_is_appendix_f_to_the_coin() -> None:
    for row, (batch, coins, percent, fees, total) in zip(schedule(), APPENDIX_F, strict=True):
        assert row.batch == batch
        assert to_icoin_rounded(row.subsidy) == coins
        assert _percent(subsidy_share(batch)) == percent
        assert to_icoin_rounded(row.fees) == fees
        assert to_icoin_rounded(row.total) == total
    assert sum(row.subsidy for row in schedule()) == CORE_INCENTIVE_NICOIN


def test_the_subsidy_falls_by_a_fifth_per_batch_exactly() -> None:
    assert subsidy_share(1) == (9, 10)
    for batch in range(2, 13):
        previous, current = subsidy_share(batch - 1), subsidy_share(batch)
        assert current[0] * previous[1] * 5 == previous[0] * current[1] * 4
    assert issuance_ratio(1) == (9, 1)


def test_many_small_payments_mint_what_one_large_payment_mints() -> None:
    one, _ = issue_for_fees(BatchProgress(), 10**15 + 7, CORE_INCENTIVE_NICOIN)
    many = BatchProgress()
    for _ in range(1000):
        many, _ = issue_for_fees(many, 10**12, CORE_INCENTIVE_NICOIN)
    many, _ = issue_for_fees(many, 7, CORE_INCENTIVE_NICOIN)
    assert many == one
    assert one.issued == (10**15 + 7) * 9


def test_issuance_never_passes_its_limit_and_the_minimum_fills_batches_too() -> None:
    state, steps = issue_minimum(BatchProgress(), BATCH_NICOIN + 5, CORE_INCENTIVE_NICOIN)
    assert [(s.batch, s.minted, s.completed) for s in steps] == [
        (1, BATCH_NICOIN, True), (2, 5, False)]
    state, steps = issue_for_fees(state, 10**30, state.issued + 100)
    assert state.issued == BATCH_NICOIN + 105
    done, _ = issue_for_fees(BatchProgress(), 10**30, CORE_INCENTIVE_NICOIN)
    assert done.issued == CORE_INCENTIVE_NICOIN and done.batch == 13
    assert issue_for_fees(done, 10**20, CORE_INCENTIVE_NICOIN) == (done, [])


def test_the_minimum_is_five_percent_in_year_one_and_halves_yearly() -> None:
    year = YEAR_SECONDS * 10**9
    assert minimum_for_year(0) == 50_000_000 * NICOIN_PER_ICOIN
    assert minimum_for_year(1) == 25_000_000 * NICOIN_PER_ICOIN
    assert minimum_for_year(2) == 12_500_000 * NICOIN_PER_ICOIN
    day = year // 365
    # Appendix F: 136,986 icoin a day in year one, 68,493 in year two.
    assert minimum_due(0, day, year) // NICOIN_PER_ICOIN == 136_986
    assert minimum_due(1, day, year) // NICOIN_PER_ICOIN == 68_493
    assert minimum_due(0, 2 * year, year) == minimum_for_year(0)


def test_issuing_the_fee_column_batch_by_batch_reproduces_appendix_f() -> None:
    """Developers pay the table's fees, row by row, through real settlements; the executor
    (all shares to providers, released every cycle) sends what it is paid back to the
    developer, since the fees add up to more than the supply. The column is rounded to the
    coin, so after its last row the twelfth batch lacks 0.41 icoin of fees: one more coin
    completes it."""
    balances = {**{i: icoin(1) for i in range(4)}, RELAY_OWNER: icoin(1),
                DEVELOPER: icoin(GENESIS_ICOIN - 5)}
    net = RewardsNet.start(balances=balances, inference=ALL_TO_PROVIDERS,
                           rewards=ISSUANCE_TO_PROVIDERS, price=NICOIN_PER_ICOIN, units=1)
    executor, developer = net.operators[0], net.developer
    genesis_supply = bank.supply(net.context())
    paid_to_executor = 0

    def pay(fees_icoin: int) -> None:
        nonlocal paid_to_executor
        while fees_icoin:
            chunk = min(fees_icoin, net.balance(developer) // NICOIN_PER_ICOIN)
            assert chunk > 0
            net.fund_key(icoin(chunk))
            tickets = []
            left = chunk
            while left:
                tokens = min(left, MAX_TICKET_ICOIN)
                tickets.append((tokens - 1, 1))
                left -= tokens
            net.settle(executor, tickets)
            fees_icoin -= chunk
            before = net.balance(executor)
            net.close_cycle(race=False)
            received = net.balance(executor) - before
            paid_to_executor += received
            net.deliver(executor, _send(executor, developer, received))

    for _, _, _, fees, _ in APPENDIX_F:
        pay(fees)
    assert net.tokenomics()["current_batch"] == "12"
    pay(1)

    batches = net.tokenomics()["batches"]
    table = [(int(b["batch"]), to_icoin_rounded(int(b["subsidy_nicoin"])),
              _percent(subsidy_share(int(b["batch"]))),
              to_icoin_rounded(int(b["fees_nicoin"])), to_icoin_rounded(int(b["total_nicoin"])))
             for b in batches]
    assert table == APPENDIX_F
    assert all(b["status"] == "completed" for b in batches)
    fed = icoin(sum(row[3] for row in APPENDIX_F) + 1)
    assert paid_to_executor == CORE_INCENTIVE_NICOIN + fed
    assert bank.supply(net.context()) == genesis_supply + CORE_INCENTIVE_NICOIN
    assert net.tokenomics()["remaining_nicoin"] == "0"
    assert net.invariants() == []


def _send(sender: str, recipient: str, amount: int) -> bank_pb2.MsgSend:
    return bank_pb2.MsgSend(from_address=sender, to_address=recipient, amount_nicoin=amount)


def test_the_minimum_issuance_is_shared_by_weight_when_nobody_served() -> None:
    net = RewardsNet.start(powers=(10, 30), rewards={"release_delay_cycles": 0})
    start_ns = GENESIS_TIME_S * 10**9
    closed = net.close_cycle(race=False)

    height = net.chain.app.committed.height
    minted = int(net.chain.query(f"/rewards/cycle/{closed}")["totals"]["minimum_issuance"])
    boundary_ns = (GENESIS_TIME_S + height) * 10**9
    year = YEAR_SECONDS * 10**9
    assert minted == minimum_due(0, boundary_ns - start_ns, year)
    released = {op: int(net.node_cycle(closed, op)["released"]) for op in net.operators}
    assert released[net.operators[1]] in (minted * 3 // 4, minted * 3 // 4 + 1)
    assert sum(released.values()) == minted
    assert net.invariants() == []


def test_genesis_allocations_are_minted_to_module_accounts_and_the_core_is_not() -> None:
    chain = Chain((10,), {"rewards": {"allocations": whitepaper_allocations()}},
                  balance=icoin(1))
    answer = chain.query("/rewards/tokenomics")
    funds = {f["name"]: int(f["balance_nicoin"]) for f in answer["funds"]}
    assert funds["founders"] == 160_000_000 * NICOIN_PER_ICOIN
    assert funds["top_providers"] == funds["liquidity_pool"] == 120_000_000 * NICOIN_PER_ICOIN
    assert int(answer["core_incentive_nicoin"]) == CORE_INCENTIVE_NICOIN
    assert int(answer["issued_nicoin"]) == 0
    assert int(answer["supply_nicoin"]) == 400_000_000 * NICOIN_PER_ICOIN + 2 * icoin(1)
    assert chain.query("/app/invariants")["broken"] == []


def test_a_genesis_allocation_must_be_named_once() -> None:
    state = build_app_state({account(0): 10})
    state["rewards"]["allocations"] = [{"name": "treasury", "amount_nicoin": "5"}]
    with pytest.raises(GenesisError, match="allocation"):
        validate_app_state(state)
    state["rewards"]["allocations"] = [{"name": "founders", "amount_nicoin": "5"}] * 2
    with pytest.raises(GenesisError, match="allocation"):
        validate_app_state(state)


def test_issuance_stops_at_the_supply_cap() -> None:
    chain = Chain((10,), {"bank": {"params": {"max_supply_nicoin": 10**12}}},
                  balance=10**11)
    ctx = chain.keeper_context()
    assert issuance.issuance_limit(ctx) == 10**12 - bank.supply(ctx)
