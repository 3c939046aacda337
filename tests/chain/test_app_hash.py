"""The app hash: same blocks give the same hash everywhere; it tracks state, survives restarts."""

from __future__ import annotations

from pathlib import Path

from abci_app.store import apphash
from abci_app.store.schema import APP_META, METADATA, value_columns
from race_protocol.gen.tendermint.abci import types_pb2 as abci

from .conftest import Chain, address_of, key_from_seed, start_chain


def _scripted_blocks(chain: Chain) -> list[list[bytes]]:
    a = chain.addresses
    return [
        [chain.send_tx(0, a[1], 100), chain.send_tx(1, a[2], 200)],
        [],
        [chain.send_tx(2, address_of(key_from_seed(50)), 5), chain.send_tx(0, a[3], 1)],
        [chain.send_tx(3, a[0], 10**15)],  # fails: amount beyond balance, fee still paid
        [chain.send_tx(0, a[1], 7, sequence=9)],  # refused: wrong sequence
    ]


def _run(db: Path | None) -> list[bytes]:
    chain = start_chain(db)
    hashes = [chain.app.committed.app_hash]
    for txs in _scripted_blocks(chain):
        response = chain.block(txs)
        assert response.app_hash == chain.app.committed.app_hash
        hashes.append(response.app_hash)
    chain.app.close()
    return hashes


def test_two_fresh_apps_compute_identical_hashes(tmp_path: Path) -> None:
    first = _run(tmp_path / "one.db")
    second = _run(None)
    assert first == second


def test_hash_changes_with_state_and_only_with_state(chain: Chain, outsider: str) -> None:
    start = chain.app.committed.app_hash

    empty = chain.block([]).app_hash
    refused = chain.block([chain.send_tx(0, outsider, 1, sequence=5)]).app_hash
    moved = chain.block([chain.send_tx(0, outsider, 1, sequence=0)]).app_hash

    assert empty == refused == start
    assert moved != start


def _digest_from_scratch(chain: Chain) -> int:
    """The state digest recomputed over every committed row (what O(writes) must match)."""
    digest = 0
    for name in sorted(METADATA.tables):
        table = METADATA.tables[name]
        if table is APP_META:
            continue
        names = value_columns(table)
        for key, row in chain.app.committed.all_rows(table):
            values = tuple(row[n] for n in names)
            digest = apphash.add_term(digest, apphash.row_term(name, key, values))
    return digest


def test_incremental_hash_equals_hash_of_whole_state(chain: Chain) -> None:
    for txs in _scripted_blocks(chain):
        chain.block(txs)
        assert chain.app.committed.digest == _digest_from_scratch(chain)
    assert chain.app.committed.app_hash == apphash.app_hash(_digest_from_scratch(chain))


def test_committed_state_survives_reopening(tmp_path: Path, outsider: str) -> None:
    chain = start_chain(tmp_path / "app.db")
    chain.block([chain.send_tx(0, outsider, 42)])
    height, app_hash = chain.app.committed.height, chain.app.committed.app_hash
    chain.app.close()

    reopened = Chain.resume(type(chain.app)(tmp_path / "app.db"), chain)
    info = reopened.app.info(abci.RequestInfo())

    assert (info.last_block_height, info.last_block_app_hash) == (height, app_hash)
    assert reopened.balance(outsider) == 42
    reopened.app.close()


def test_block_lost_before_commit_replays_to_the_same_hash(tmp_path: Path, outsider: str) -> None:
    chain = start_chain(tmp_path / "app.db")
    tx = chain.send_tx(0, outsider, 42)
    expected = chain.finalize([tx]).app_hash
    chain.app.close()  # a crash: FinalizeBlock ran, Commit never did

    restarted = Chain.resume(type(chain.app)(tmp_path / "app.db"), chain)
    assert restarted.app.info(abci.RequestInfo()).last_block_height == 1
    replayed = restarted.block([tx])

    assert replayed.app_hash == expected
    assert replayed.tx_results[0].code == 0
    assert restarted.balance(outsider) == 42
    restarted.app.close()


def test_genesis_commits_with_the_first_block(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "app.db")
    assert chain.app.committed.height == 1
    code, supply = chain.query_result("/bank/supply")
    assert code == 0 and int(supply["amount"]) == 4 * 10**15  # type: ignore[index]
    chain.app.close()
