"""The tx pipeline and the wiring: what a refused tx leaves behind, and when a power change
made by an end-of-epoch hook reaches CometBFT (abci_app/core/pipeline.py, abci_app/wiring.py)."""

from __future__ import annotations

import json

from abci_app.core.context import Context
from abci_app.core.hooks import Hooks
from abci_app.core.module import Module
from abci_app.modules.auth.errors import WRONG_SEQUENCE
from abci_app.modules.bank.errors import INSUFFICIENT_FUNDS
from abci_app.modules.pricing import MODULE as PRICING
from abci_app.modules.staking import keeper as staking
from abci_app.wiring import INSTALLED_MODULES, build_registry
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from tests.harness import CHAIN_ID, Chain, account, validator_key

from .conftest import FEE, GENESIS_BALANCE
from .conftest import Chain as FeeChain


def _write_then_fail(chain: FeeChain, recipient: str) -> list[MsgSend]:
    sender = chain.addresses[0]
    return [MsgSend(from_address=sender, to_address=recipient, amount_nicoin=5),
            MsgSend(from_address=sender, to_address=recipient,
                    amount_nicoin=GENESIS_BALANCE * 10)]


def test_check_tx_keeps_nothing_of_a_tx_whose_second_message_fails(
        chain: FeeChain, outsider: str) -> None:
    refused = chain.check(chain.signed(0, _write_then_fail(chain, outsider)))

    assert refused.code == INSUFFICIENT_FUNDS.code
    # Neither the first message's write nor the fee nor the sequence stayed in the
    # mempool's state: the same sequence is accepted again.
    assert chain.app.check_state.write_count() == 0
    assert chain.check(chain.send_tx(0, outsider, 1, sequence=0)).code == 0


def test_finalize_block_keeps_no_message_write_of_a_tx_whose_second_message_fails(
        chain: FeeChain, outsider: str) -> None:
    before = chain.balance(chain.addresses[0])

    result = chain.block([chain.signed(0, _write_then_fail(chain, outsider))]).tx_results[0]

    assert result.code == INSUFFICIENT_FUNDS.code
    assert chain.query_result(f"/bank/balance/{outsider}")[1]["amount"] == "0"
    # The ante's branch merged on its own: the fee is paid and the sequence consumed, so
    # a spammer cannot fill blocks for free (docs/modules.md §9).
    assert chain.balance(chain.addresses[0]) == before - FEE
    assert chain.sync_sequence(chain.addresses[0]) == 1


def test_finalize_block_keeps_nothing_of_a_tx_the_ante_refuses(
        chain: FeeChain, outsider: str) -> None:
    before = chain.balance(chain.addresses[0])

    result = chain.block([chain.send_tx(0, outsider, 1, sequence=7)]).tx_results[0]

    assert result.code == WRONG_SEQUENCE.code
    assert chain.balance(chain.addresses[0]) == before
    assert chain.sync_sequence(chain.addresses[0]) == 0


class _PowerAtEpochEnd(Module):
    """A test module subscribed to the end-of-epoch hook: it gives a newcomer power."""

    name = "power_at_epoch_end"

    def __init__(self, pub_key: bytes, power: int) -> None:
        self.pub_key = pub_key
        self.power = power

    def after_epoch_end(self, ctx: Context, epoch: int) -> None:
        staking.set_power(ctx, self.pub_key, self.power)


def test_a_power_change_in_an_end_of_epoch_hook_reaches_the_same_blocks_validator_updates(
        ) -> None:
    newcomer = validator_key(7)
    hooked = _PowerAtEpochEnd(newcomer, 33)
    registry = build_registry(
        (*INSTALLED_MODULES, hooked),
        Hooks(epoch_end=(PRICING.after_epoch_end, hooked.after_epoch_end)))
    chain = Chain([10], {"epochs": {"params": {"epoch_length_blocks": 4}}}, registry=registry)
    last_of_epoch = chain.query("/epochs/current")["epoch"]["end_height"]
    chain.advance_to(int(last_of_epoch))

    response = chain.finalize([])

    assert [(u.pub_key.ed25519, u.power) for u in response.validator_updates] == [
        (newcomer, 33)]
    assert any(e.type == "epoch_end" for e in response.events)
    chain.commit()
    assert account(0) in {v["operator"] for v in chain.query("/staking/validators")["validators"]}


def test_check_tx_between_init_chain_and_the_first_commit_knows_the_chain_id(
        outsider: str) -> None:
    """CometBFT may send txs to the mempool before block 1 commits (a restart after
    InitChain): they are checked against the chain id InitChain gave."""
    chain = Chain([10], accounts=[0])
    fresh = type(chain.app)(None)
    chain_request = _init_request(chain)
    fresh.init_chain(chain_request)
    tx = chain.sign(account(0), [MsgSend(from_address=account(0), to_address=outsider,
                                         amount_nicoin=1)], sequence=0)

    checked = fresh.check_tx(abci.RequestCheckTx(tx=tx))

    assert checked.code == 0, checked.log
    assert chain_request.chain_id == chain.app.chain_id


def _init_request(chain: Chain) -> abci.RequestInitChain:
    """The InitChain ``chain`` was started with, replayed from its genesis export."""
    exported = chain.registry.export_genesis(chain.keeper_context())
    return abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(exported).encode(), initial_height=1,
        validators=[abci.ValidatorUpdate(pub_key={"ed25519": validator_key(0)}, power=10)])
