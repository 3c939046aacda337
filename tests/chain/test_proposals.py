"""ProcessProposal rejects a block an honest proposer could not have built, and never one
that PrepareProposal built (docs/modules.md §13)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app import app as app_module
from race_protocol.gen.race.v1.bank_pb2 import MsgSend
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from tests.gov.test_gov_module import GENESIS_STATE as GENESIS
from tests.gov.test_gov_module import pass_proposal, update_params
from tests.harness import Chain as GovChain
from tests.harness import account

from .conftest import Chain, start_chain

ACCEPT = abci.ResponseProcessProposal.ACCEPT
REJECT = abci.ResponseProcessProposal.REJECT


def process(chain: Chain, txs: list[bytes]) -> int:
    return chain.app.process_proposal(abci.RequestProcessProposal(
        txs=txs, height=chain.height)).status


def prepare(chain: Chain, txs: list[bytes], max_tx_bytes: int = 10**7) -> list[bytes]:
    return list(chain.app.prepare_proposal(abci.RequestPrepareProposal(
        txs=txs, max_tx_bytes=max_tx_bytes, height=chain.height)).txs)


def transfer(sender: int, amount: int) -> MsgSend:
    return MsgSend(from_address=account(sender), to_address=account(0), amount_nicoin=amount)


def flipped(tx: bytes, position: int) -> bytes:
    return tx[:position] + bytes([tx[position] ^ 0x01]) + tx[position + 1:]


@pytest.fixture(scope="module")
def proposal_chain() -> Chain:
    return start_chain(None)


def test_a_block_of_valid_txs_is_accepted(proposal_chain: Chain, outsider: str) -> None:
    chain = proposal_chain
    txs = [chain.send_tx(0, outsider, 1, sequence=0), chain.send_tx(1, outsider, 1, sequence=0)]

    assert process(chain, txs) == ACCEPT


@pytest.mark.parametrize("bad", ["garbage", "bad_signature", "wrong_chain", "too_large"])
def test_a_block_with_a_tx_failing_the_stateless_checks_is_rejected(
        proposal_chain: Chain, outsider: str, bad: str) -> None:
    chain = proposal_chain
    valid = chain.send_tx(0, outsider, 1, sequence=0)
    invalid = {
        "garbage": b"\x00not a tx",
        "bad_signature": flipped(valid, len(valid) - 5),
        "wrong_chain": chain.send_tx(1, outsider, 1, sequence=0, chain_id="another-chain"),
        "too_large": b"\x0a" + b"\xff" * 70_000,
    }[bad]

    assert process(chain, [valid, invalid]) == REJECT


def test_a_block_carrying_a_tx_twice_is_rejected(proposal_chain: Chain, outsider: str) -> None:
    tx = proposal_chain.send_tx(0, outsider, 1, sequence=0)

    assert process(proposal_chain, [tx, tx]) == REJECT


def test_a_block_with_too_many_txs_is_rejected(proposal_chain: Chain, outsider: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "MAX_BLOCK_TXS", 2, raising=False)
    txs = [proposal_chain.send_tx(0, outsider, 1, sequence=s) for s in range(3)]

    assert process(proposal_chain, txs) == REJECT
    assert process(proposal_chain, prepare(proposal_chain, txs)) == ACCEPT
    assert len(prepare(proposal_chain, txs)) == 2


def test_txs_the_state_refuses_are_accepted_and_get_their_code_in_the_block(
        outsider: str) -> None:
    """Sequence, fee and funds are the state's business: FinalizeBlock gives the code."""
    chain = start_chain(None)
    replayed_sequence = chain.send_tx(0, outsider, 1, sequence=5)
    too_much = chain.send_tx(1, outsider, 10**18, sequence=0)
    txs = [replayed_sequence, too_much]

    assert process(chain, txs) == ACCEPT
    assert [r.code != 0 for r in chain.finalize(txs).tx_results] == [True, True]


def _pool(chain: Chain, outsider: str) -> list[bytes]:
    valid = [chain.send_tx(i % 4, outsider, 1 + i, sequence=i // 4) for i in range(8)]
    broken = [flipped(valid[0], p) for p in (3, 40, len(valid[0]) - 2)]
    foreign = [chain.send_tx(2, outsider, 1, sequence=9, chain_id="another-chain")]
    return valid + broken + foreign + [b"", b"\x0a\x00", b"\xff" * 300]


@given(picks=st.lists(st.integers(0, 14), max_size=40),
       budget=st.integers(0, 4000))
@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_process_proposal_accepts_every_block_prepare_proposal_builds(
        proposal_chain: Chain, outsider: str, picks: list[int], budget: int) -> None:
    pool = _pool(proposal_chain, outsider)
    mempool = [pool[i % len(pool)] for i in picks]

    assert process(proposal_chain, prepare(proposal_chain, mempool, budget)) == ACCEPT


def test_after_a_limit_change_prepare_leaves_out_what_process_would_reject() -> None:
    """A tx admitted under the old limits may still sit in the mempool when a passed
    proposal tightens them: PrepareProposal leaves it out, so the block is accepted."""
    chain = GovChain([10], GENESIS)
    memo_tx = chain.sign(account(100), [transfer(100, 1)], memo="m" * 200)
    plain_tx = chain.sign(account(100), [transfer(100, 2)], sequence=0)

    pass_proposal(chain, update_params(("auth", "max_memo_bytes", "0")))
    built = prepare(chain, [memo_tx, plain_tx])

    assert built == [plain_tx]
    assert process(chain, built) == ACCEPT
    assert process(chain, [memo_tx]) == REJECT
