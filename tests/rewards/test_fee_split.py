"""One fee split expresses every seed's economics (DESIGN.md section 4; docs/rewards.md,
"Parameter sets"): the Race whitepaper's (the defaults), DecentralGPT's (payments burned,
mining rewards 70/30 between miners and model developers) and DLLM's (the rest to a
community address). Each set sums to 10^6, and a settlement under it pays every recipient
exactly its share of the charge and of the issuance, to the nicoin."""

from __future__ import annotations

import dataclasses

import pytest

from abci_app.core.authority import governance_authority
from abci_app.core.errors import ChainError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.inference import params as inference_params
from abci_app.modules.rewards import errors
from abci_app.modules.rewards import params as rewards_params
from abci_app.modules.rewards.keeper import community_pool_address, training_fund_address
from abci_app.modules.rewards.msgs import validate_basic_spend_fund
from race_protocol.gen.race.v1 import rewards_pb2
from race_protocol.inference.fees import split
from race_protocol.rewards.economics import PARAMETER_SETS
from tests.gov.test_gov_module import GENESIS_STATE, YES, submit, vote
from tests.harness import account
from tests.rewards.net import RELAY_OWNER, RewardsNet

UNITS = 3
PRICE = 1000
MODEL_OWNER = account(7)


def test_the_race_set_is_the_chain_default() -> None:
    race = PARAMETER_SETS["race"]
    defaults = dataclasses.asdict(inference_params.InferenceParams())
    assert {k: defaults[k] for k in race["inference"]} == race["inference"]
    defaults = dataclasses.asdict(rewards_params.RewardsParams())
    assert {k: defaults[k] for k in race["rewards"]} == race["rewards"]


@pytest.mark.parametrize("name", sorted(PARAMETER_SETS))
def test_every_set_is_valid_and_sums_to_the_whole(name: str) -> None:
    chosen = PARAMETER_SETS[name]
    fee = dataclasses.replace(inference_params.InferenceParams(), **chosen["inference"])
    minted = dataclasses.replace(rewards_params.RewardsParams(), **chosen["rewards"])
    inference_params.validate(fee)
    rewards_params.validate(minted)
    assert sum(ppm for _, ppm in inference_params.fee_shares(fee)) == 1_000_000
    assert sum(ppm for _, ppm in rewards_params.issuance_shares(minted)) == 1_000_000


@pytest.mark.parametrize("name", sorted(PARAMETER_SETS))
def test_a_settlement_pays_each_recipient_exactly_under_each_set(name: str) -> None:
    chosen = PARAMETER_SETS[name]
    net = RewardsNet.start(inference=chosen["inference"],
                           rewards={**chosen["rewards"], "minimum_issuance_ppm": 0},
                           model_owner=MODEL_OWNER, price=PRICE, units=UNITS)
    executor = net.operators[2]
    net.fund_key(10**12)
    recipients = {"relay": account(RELAY_OWNER), "training_fund": training_fund_address(),
                  "community_pool": community_pool_address(), "model_owner": MODEL_OWNER}
    before = {share: net.balance(address) for share, address in recipients.items()}
    supply_before = bank.supply(net.context())
    usage = [(17, 33), (250, 511), (3, 1)]

    net.settle(executor, usage)

    fee_shares = inference_params.fee_shares(net.chain.params("inference"))
    issuance_shares = rewards_params.issuance_shares(net.chain.params("rewards"))
    fees = dict.fromkeys([s for s, _ in fee_shares], 0)
    for prompt, completion in usage:
        for share, part in split((prompt + completion) * UNITS * PRICE, fee_shares):
            fees[share] += part
    charged = sum(fees.values())
    minted = 9 * charged  # batch 1: 9 coins minted per coin of fees
    issued = dict(split(minted, issuance_shares))
    for share, address in recipients.items():
        assert net.balance(address) - before[share] == fees[share] + issued.get(share, 0), share
    assert net.held(executor) == fees["executor"] + issued["executor"]
    assert net.pool(net.cycle()) == fees["verifier"] + issued["verifier"]
    assert bank.supply(net.context()) - supply_before == minted - fees["burn"]
    assert net.invariants() == []


def test_only_a_passed_proposal_spends_the_training_fund() -> None:
    net = RewardsNet.start(rewards={"minimum_issuance_ppm": 0},
                           extra={"gov": GENESIS_STATE["gov"]})
    net.fund_key(10**12)
    net.settle(net.operators[0], [(100, 100)])
    fund = net.balance(training_fund_address())
    grant = rewards_pb2.MsgSpendFund(authority=governance_authority(), fund="training_fund",
                                     recipient=MODEL_OWNER, amount_nicoin=fund // 2,
                                     purpose="a DiLoCo training run")
    direct = net.race.block([(net.developer, grant)])[0]
    assert direct.code == errors.GOVERNANCE_ONLY.code, direct.log
    assert net.balance(training_fund_address()) == fund

    proposal = submit(net.chain, grant)
    for index in range(4):
        assert vote(net.chain, index, proposal, YES) == 0
    net.race.advance_until(lambda: net.balance(MODEL_OWNER) > 0, limit=40)

    assert net.balance(MODEL_OWNER) == fund // 2
    assert net.balance(training_fund_address()) == fund - fund // 2
    assert net.invariants() == []


def test_a_grant_names_a_known_fund_and_a_purpose() -> None:
    grant = rewards_pb2.MsgSpendFund(authority=governance_authority(), fund="treasury",
                                     recipient=MODEL_OWNER, amount_nicoin=1, purpose="x")
    with pytest.raises(ChainError) as refused:
        validate_basic_spend_fund(grant)
    assert refused.value.code == errors.UNKNOWN_FUND.code
