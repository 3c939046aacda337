"""State sync from a peer that lies: nothing in a snapshot is used before it is checked.

A joining node takes the height from CometBFT's request (the light client verified it),
the chain id from its own genesis.json, and a block time only in range; it commits the
restored state only once its app hash is the trusted one (DESIGN.md §3). A malformed
offer, descriptor or chunk is refused with a result code, never an exception (an
exception on the snapshot connection stops the node).
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abci_app.abci.__main__ import genesis_chain_id
from abci_app.app import RaceApp
from abci_app.store import snapshots
from abci_app.store.snapshots import CHUNK_BYTES, SNAPSHOT_FORMAT, export_state
from race_protocol.gen.tendermint.abci import types_pb2 as abci

from .conftest import CHAIN_ID, Chain, start_chain

ACCEPT = abci.ResponseApplySnapshotChunk.ACCEPT
REJECT_SNAPSHOT = abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
OFFER_ACCEPT = abci.ResponseOfferSnapshot.ACCEPT
OFFER_REJECT = abci.ResponseOfferSnapshot.REJECT


def joiner(path: Path | None, chain_id: str = CHAIN_ID) -> RaceApp:
    """A node that has only its genesis.json: it knows the chain id, nothing else."""
    return RaceApp(path, genesis_chain_id=chain_id)


def package(payload: bytes, height: int, chunk_bytes: int = CHUNK_BYTES
            ) -> tuple[abci.Snapshot, list[bytes]]:
    """A snapshot as a peer announces it: chunks, their hashes, the payload's hash."""
    chunks = [payload[i:i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)]
    snapshot = abci.Snapshot(
        height=height, format=SNAPSHOT_FORMAT, chunks=len(chunks),
        hash=hashlib.sha256(payload).digest(),
        metadata=json.dumps([hashlib.sha256(c).hexdigest() for c in chunks]).encode())
    return snapshot, chunks


def forged(source: Chain, edit: Callable[[dict[str, Any]], None]
           ) -> tuple[abci.Snapshot, list[bytes]]:
    """The source's honest snapshot document, edited by a peer, offered at its height."""
    document = json.loads(zlib.decompress(export_state(source.app.committed)))
    edit(document)
    payload = zlib.compress(json.dumps(document, sort_keys=True).encode())
    return package(payload, source.app.committed.height)


def restore(target: RaceApp, snapshot: abci.Snapshot, chunks: list[bytes],
            trusted: bytes) -> list[Any]:
    """OfferSnapshot, then ApplySnapshotChunk for each chunk; every result."""
    offered = target.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snapshot,
                                                              app_hash=trusted)).result
    results: list[Any] = [offered]
    if offered != OFFER_ACCEPT:
        return results
    for index, chunk in enumerate(chunks):
        results.append(target.apply_snapshot_chunk(
            abci.RequestApplySnapshotChunk(index=index, chunk=chunk)).result)
    return results


@pytest.fixture
def source(tmp_path: Path, outsider: str) -> Chain:
    chain = start_chain(tmp_path / "source.db")
    chain.block([chain.send_tx(0, outsider, 321)])
    return chain


def test_an_honest_snapshot_restores_at_the_offered_height(source: Chain, tmp_path: Path
                                                           ) -> None:
    target = joiner(tmp_path / "joiner.db")
    snapshot, chunks = forged(source, lambda document: None)

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results[-1] == ACCEPT
    info = target.info(abci.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (
        2, source.app.committed.app_hash)
    assert target.chain_id == CHAIN_ID


@pytest.mark.parametrize("key", ["height", "app_hash", "digest"])
def test_meta_cannot_overwrite_the_height_or_the_app_hash(source: Chain, tmp_path: Path,
                                                          key: str) -> None:
    target = joiner(tmp_path / "joiner.db")
    snapshot, chunks = forged(source, lambda d: d["meta"].update({key: "99"}))

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results[-1] == REJECT_SNAPSHOT
    assert target.committed.height == 0


def test_the_document_height_must_be_the_offered_height(source: Chain, tmp_path: Path
                                                        ) -> None:
    target = joiner(tmp_path / "joiner.db")
    snapshot, chunks = forged(source, lambda d: d.update(height=5))

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results[-1] == REJECT_SNAPSHOT
    assert target.committed.height == 0


def test_a_snapshot_of_another_chain_is_refused(source: Chain, tmp_path: Path) -> None:
    target = joiner(tmp_path / "joiner.db")
    snapshot, chunks = forged(source, lambda d: d["meta"].update(chain_id="other-chain"))

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results[-1] == REJECT_SNAPSHOT
    assert target.committed.height == 0


@pytest.mark.parametrize("block_time", ["soon", "-1", str(2**64), "", "\uff11\uff12", "1e9"])
def test_a_garbage_block_time_is_refused_and_the_node_still_starts(
        source: Chain, tmp_path: Path, block_time: str) -> None:
    target = joiner(tmp_path / "joiner.db")
    snapshot, chunks = forged(source, lambda d: d["meta"].update(block_time_ns=block_time))

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)
    target.close()

    assert results[-1] == REJECT_SNAPSHOT
    reopened = joiner(tmp_path / "joiner.db")
    assert reopened.committed.height == 0
    reopened.close()


def test_a_node_without_a_chain_id_refuses_state_sync(source: Chain) -> None:
    target = joiner(None, chain_id="")
    snapshot, chunks = forged(source, lambda document: None)

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results == [abci.ResponseOfferSnapshot.ABORT]


@pytest.mark.parametrize("metadata", [b"5", b"null", b'"x"', b"{}", b"[1]", b'["zz"]',
                                      b"\xff\xfe", b"[" * 100_000, b""])
def test_malformed_offer_metadata_is_rejected_not_raised(source: Chain,
                                                         metadata: bytes) -> None:
    target = joiner(None)
    snapshot, _ = forged(source, lambda document: None)
    snapshot.metadata = metadata
    snapshot.chunks = 1

    offered = target.offer_snapshot(abci.RequestOfferSnapshot(
        snapshot=snapshot, app_hash=source.app.committed.app_hash)).result

    assert offered == OFFER_REJECT


def test_an_offer_announcing_too_many_chunks_is_rejected(source: Chain) -> None:
    chunks = 100_000
    snapshot = abci.Snapshot(height=2, format=SNAPSHOT_FORMAT, chunks=chunks,
                             hash=b"\x00" * 32,
                             metadata=json.dumps(["00" * 32] * chunks).encode())

    offered = joiner(None).offer_snapshot(abci.RequestOfferSnapshot(
        snapshot=snapshot, app_hash=source.app.committed.app_hash)).result

    assert offered == OFFER_REJECT


@pytest.mark.parametrize("edit", [
    {"hash": b"short"}, {"height": 0}, {"chunks": 0},
])
def test_an_offer_with_a_bad_hash_height_or_chunk_count_is_rejected(
        source: Chain, edit: dict[str, Any]) -> None:
    snapshot, _ = forged(source, lambda document: None)
    for field, value in edit.items():
        setattr(snapshot, field, value)

    offered = joiner(None).offer_snapshot(abci.RequestOfferSnapshot(
        snapshot=snapshot, app_hash=source.app.committed.app_hash)).result

    assert offered == OFFER_REJECT


def test_a_chunk_larger_than_the_chunk_size_is_rejected(source: Chain) -> None:
    big = b"\x00" * (CHUNK_BYTES + 1)
    snapshot, chunks = package(big + b"tail", 2, chunk_bytes=len(big))
    target = joiner(None)

    results = restore(target, snapshot, chunks, source.app.committed.app_hash)

    assert results[:2] == [OFFER_ACCEPT, REJECT_SNAPSHOT]


def test_a_zip_bomb_is_not_inflated_past_the_state_limit(
        source: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "MAX_STATE_BYTES", 1 << 20, raising=False)
    bomb = zlib.compress(b" " * (64 << 20), 9)  # 64 MiB of spaces in ~64 KiB
    snapshot, chunks = package(bomb, 2)
    target = joiner(None)

    tracemalloc.start()
    try:
        results = restore(target, snapshot, chunks, source.app.committed.app_hash)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert results[-1] == REJECT_SNAPSHOT
    assert peak < 16 << 20, f"inflated {peak} bytes"


def test_a_torn_descriptor_does_not_stop_listing(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "a.db", snapshot_dir=tmp_path / "snaps",
                        snapshot_interval=1, snapshot_keep=3)
    chain.end_block()
    chain.end_block()
    newest = tmp_path / "snaps" / "3" / "snapshot.json"
    newest.write_text(newest.read_text()[:20])  # a crash in the middle of the write
    (tmp_path / "snaps" / "2" / "snapshot.json").write_text("5")

    listed = chain.app.list_snapshots(abci.RequestListSnapshots()).snapshots

    assert [s.height for s in listed] == [1]


def test_descriptors_are_written_whole(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "a.db", snapshot_dir=tmp_path / "snaps",
                        snapshot_interval=1)

    written = sorted(p.name for p in (tmp_path / "snaps" / "1").iterdir())

    assert written == ["chunk-0", "snapshot.json"]
    assert json.loads((tmp_path / "snaps" / "1" / "snapshot.json").read_text())["height"] == 1
    chain.close()


def test_the_app_takes_its_chain_id_from_the_node_genesis(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "genesis.json").write_text(json.dumps({"chain_id": "race-x"}))

    assert genesis_chain_id(tmp_path) == "race-x"
    assert genesis_chain_id(tmp_path / "elsewhere") == ""


def test_a_state_of_another_chain_is_not_served(tmp_path: Path) -> None:
    start_chain(tmp_path / "a.db").close()

    with pytest.raises(ValueError, match="genesis"):
        RaceApp(tmp_path / "a.db", genesis_chain_id="another-chain")
