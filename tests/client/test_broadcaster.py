"""The one sign-broadcast-wait path against a real node: local sequences, resync after
another client used the key, and the journal that makes a keyed submission happen once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from abci_app.modules.auth.errors import WRONG_SEQUENCE
from abci_app.tx import build_signed_tx, decode_tx
from race_node.client.broadcast import Broadcaster, Signer, broadcast_signed
from race_node.client.journal import COMMITTED, SIGNED, BroadcastJournal, JournalEntry
from race_node.client.keyring import Keyring
from race_node.client.rpc import CometRPC, tx_hash
from race_node.gateway.rest import create_app
from race_node.node.runner import NodeRunner
from race_protocol.gen.race.v1 import bank_pb2

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def rpc(node: NodeRunner) -> CometRPC:
    return node.rpc()


@pytest.fixture
def signer(node: NodeRunner) -> Signer:
    return Signer.from_keyring(Keyring(node.home.keyring_dir), "validator")


def self_transfer(signer: Signer, amount: int = 1) -> bank_pb2.MsgSend:
    return bank_pb2.MsgSend(from_address=signer.address, to_address=signer.address,
                            amount_nicoin=amount)


def committed_memos(rpc: CometRPC, signer: Signer, prefix: str) -> list[str]:
    """Memos starting with ``prefix`` of every committed tx the signer signed."""
    memos = [decode_tx(found.tx).memo for found in rpc.tx_search(f"tx.signer='{signer.address}'")]
    return [memo for memo in memos if memo.startswith(prefix)]


def test_one_key_puts_several_txs_in_one_block(rpc: CometRPC, signer: Signer) -> None:
    broadcaster = Broadcaster(rpc, signer)

    submissions = [broadcaster.submit([self_transfer(signer, amount)]) for amount in range(1, 6)]
    committed = [broadcaster.wait(s) for s in submissions]

    assert all(s.ok for s in committed), [s.committed for s in committed]
    first = submissions[0].sequence
    assert [s.sequence for s in submissions] == list(range(first, first + 5))
    heights = [s.committed.height for s in committed if s.committed is not None]
    assert len(set(heights)) < len(heights), f"every tx landed in its own block: {heights}"


def test_a_stale_local_sequence_is_resynced_and_the_tx_still_lands(
        rpc: CometRPC, signer: Signer) -> None:
    ours = Broadcaster(rpc, signer)
    assert ours.submit_and_wait([self_transfer(signer)], memo="ours").ok
    # Another client signs with the same key, so our locally counted sequence is stale.
    theirs = Broadcaster(rpc, signer).submit_and_wait([self_transfer(signer)], memo="theirs")
    assert theirs.ok

    again = ours.submit_and_wait([self_transfer(signer)], memo="ours again")

    assert again.ok, again.check
    assert again.sequence == theirs.sequence + 1


def test_a_wrong_sequence_is_refused_with_the_auth_module_code(
        rpc: CometRPC, signer: Signer) -> None:
    broadcaster = Broadcaster(rpc, signer)
    tx = build_signed_tx(signer.private_key, broadcaster.chain_id,
                         broadcaster.committed_sequence() + 100, broadcaster.fee_nicoin,
                         [self_transfer(signer)])

    assert broadcast_signed(rpc, tx).code == WRONG_SEQUENCE.code


def test_rebroadcasting_the_same_bytes_counts_as_accepted(
        node: NodeRunner, rpc: CometRPC, signer: Signer) -> None:
    broadcaster = Broadcaster(rpc, signer)
    tx = build_signed_tx(signer.private_key, broadcaster.chain_id,
                         broadcaster.committed_sequence(), broadcaster.fee_nicoin,
                         [self_transfer(signer)], memo="twice")

    first, second = broadcast_signed(rpc, tx), broadcast_signed(rpc, tx)
    through_gateway = TestClient(create_app(node.home.rpc_url())).post(
        "/race/tx/v1/txs", json={"tx_bytes": base64.b64encode(tx).decode(),
                                 "wait_for_commit": True}).json()

    assert (first.code, second.code) == (0, 0)
    assert first.hash == second.hash == through_gateway["txhash"] == tx_hash(tx)
    assert through_gateway["code"] == 0 and int(through_gateway["height"]) > 0


def test_submit_once_sends_one_tx_per_key_even_from_a_new_process(
        tmp_path: Path, rpc: CometRPC, signer: Signer) -> None:
    journal_path = tmp_path / "journal.sqlite"
    first_run = Broadcaster(rpc, signer, journal=BroadcastJournal(journal_path))
    sent = first_run.submit_once("beat/1", [self_transfer(signer)], memo="once-a beat/1")
    assert sent.accepted
    first_run.journal.close()  # type: ignore[union-attr]

    # A restarted process asks again for the same key, with different content.
    second_run = Broadcaster(rpc, signer, journal=BroadcastJournal(journal_path))
    again = second_run.submit_once("beat/1", [self_transfer(signer, 2)], memo="once-b beat/1")
    landed = second_run.wait(again)
    afterwards = second_run.submit_once("beat/1", [self_transfer(signer, 3)], memo="once-c")

    assert again.hash == sent.hash and landed.ok
    assert afterwards.committed is not None and afterwards.hash == sent.hash
    assert second_run.journal.get("beat/1").state == COMMITTED  # type: ignore[union-attr]
    assert committed_memos(rpc, signer, "once-") == ["once-a beat/1"]


def test_bytes_persisted_before_a_crash_are_the_ones_broadcast(
        tmp_path: Path, rpc: CometRPC, signer: Signer) -> None:
    journal = BroadcastJournal(tmp_path / "journal.sqlite")
    probe = Broadcaster(rpc, signer)
    # What a process killed between "persist" and "broadcast" leaves behind.
    tx = build_signed_tx(signer.private_key, probe.chain_id, probe.committed_sequence(),
                         probe.fee_nicoin, [self_transfer(signer)], memo="persisted beat/9")
    journal.record_signed(JournalEntry("beat/9", tx_hash(tx), tx, signer.address,
                                       probe.committed_sequence(), SIGNED))

    restarted = Broadcaster(rpc, signer, journal=journal)
    submission = restarted.wait(restarted.submit_once("beat/9", [self_transfer(signer)],
                                                      memo="rebuilt beat/9"))

    assert submission.ok and submission.hash == tx_hash(tx)
    assert committed_memos(rpc, signer, "rebuilt") == []
