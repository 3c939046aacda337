"""Genesis import/export, params changes, validator power updates and state-sync snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from abci_app.app import RaceApp
from abci_app.core.context import Context
from abci_app.core.errors import ChainError, registered_codes
from abci_app.core.module import Module
from abci_app.core.params import set_params
from abci_app.genesis import GenesisError, build_app_state, validate_app_state
from abci_app.modules.staking import keeper as staking
from abci_app.wiring import INSTALLED_MODULES, build_registry
from race_protocol.gen.tendermint.abci import types_pb2 as abci

from .conftest import CHAIN_ID, VALIDATOR_KEY, Chain, address_of, key_from_seed, start_chain


def test_error_codes_are_unique_and_documented_ranges_hold() -> None:
    build_registry()
    codes = registered_codes()
    assert all(code > 0 for code in codes)
    for code, error in codes.items():
        if error.codespace in ("auth", "bank", "staking"):
            low = {"auth": 40, "bank": 60, "staking": 80}[error.codespace]
            assert low <= code < low + 20


def test_build_app_state_refuses_bad_balances() -> None:
    with pytest.raises(GenesisError, match="prefix"):
        build_app_state({"cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a": 1})
    with pytest.raises(GenesisError, match="positive"):
        build_app_state({address_of(key_from_seed(1)): 0})


def test_validate_app_state_catches_what_init_chain_would_refuse() -> None:
    state = build_app_state({address_of(key_from_seed(1)): 10**18})
    state["bank"]["balances"].append({"address": address_of(key_from_seed(2)), "amount": "1"})
    with pytest.raises(GenesisError, match="supply"):
        validate_app_state(state)
    with pytest.raises(GenesisError, match="unknown modules"):
        validate_app_state({"nonsense": {}})
    validate_app_state(build_app_state({address_of(key_from_seed(1)): 5}))


def test_export_then_import_reproduces_the_app_hash(chain: Chain, outsider: str) -> None:
    chain.block([chain.send_tx(0, outsider, 77)])
    ctx = chain.app._query_context()
    exported = chain.app.registry.export_genesis(ctx)

    copy = RaceApp(None)
    response = copy.init_chain(abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(exported).encode(), initial_height=1,
        validators=[abci.ValidatorUpdate(pub_key={"ed25519": VALIDATOR_KEY}, power=10)],
    ))

    assert response.app_hash == chain.app.committed.app_hash
    copy.close()


def test_param_change_is_validated_and_takes_effect(chain: Chain, outsider: str) -> None:
    ctx = Context("finalize", chain.app.check_block, chain.app.check_state.child(),
                  chain.app.registry)
    with pytest.raises(ChainError) as unknown:
        set_params(ctx, "auth", {"no_such_param": 1})
    assert unknown.value.code == 11
    with pytest.raises(ChainError) as wrong_type:
        set_params(ctx, "auth", {"min_fee_nicoin": "lots"})
    assert wrong_type.value.code == 12
    with pytest.raises(ChainError):
        set_params(ctx, "auth", {"max_messages": 0})

    set_params(ctx, "auth", {"min_fee_nicoin": "5000"})

    assert ctx.params("auth").min_fee_nicoin == 5000
    assert chain.app.pipeline.check_transaction(ctx, chain.send_tx(0, outsider, 1)).code == 42


class _PowerChanger(Module):
    """Test module: at given heights, sets a validator's power from end_block."""

    name = "power_changer"

    def __init__(self, plan: dict[int, list[tuple[bytes, int]]]) -> None:
        self.plan = plan
        self.refusals: list[int] = []

    def end_block(self, ctx: Context) -> None:
        for pub_key, power in self.plan.get(ctx.block.height, []):
            try:
                staking.set_power(ctx, pub_key, power)
            except ChainError as refusal:
                self.refusals.append(refusal.code)


def test_validator_power_changes_reach_finalize_block(tmp_path: Path) -> None:
    newcomer = bytes(range(32))
    changer = _PowerChanger({
        2: [(newcomer, 25)],
        3: [(VALIDATOR_KEY, 0)],
        4: [(newcomer, 0)],  # would empty the set: refused
    })
    registry = build_registry((*INSTALLED_MODULES, changer))
    chain = start_chain(None, registry=registry)

    added = chain.block([])
    removed = chain.block([])
    refused = chain.block([])

    assert [(u.pub_key.ed25519, u.power) for u in added.validator_updates] == [(newcomer, 25)]
    assert [(u.pub_key.ed25519, u.power) for u in removed.validator_updates] == [
        (VALIDATOR_KEY, 0)
    ]
    assert list(refused.validator_updates) == [] and changer.refusals == [82]
    ctx = chain.app._query_context()
    assert staking.voting_weights(ctx) == [(staking.consensus_address(newcomer), 25)]
    assert staking.total_voting_power(ctx) == 25
    code, body = chain.query_result("/staking/validators")
    assert code == 0 and body["total_power"] == 25  # type: ignore[index]


def test_genesis_operator_links_validator_to_account(tmp_path: Path) -> None:
    account = address_of(key_from_seed(1))
    state = build_app_state({account: 10}, operators={VALIDATOR_KEY.hex(): account})
    app = RaceApp(None)
    app.init_chain(abci.RequestInitChain(
        chain_id=CHAIN_ID, app_state_bytes=json.dumps(state).encode(), initial_height=1,
        validators=[abci.ValidatorUpdate(pub_key={"ed25519": VALIDATOR_KEY}, power=10)],
    ))
    ctx = Context("query", app.check_block, app.check_state, app.registry)
    assert staking.voting_power_of_account(ctx, account) == 10
    app.close()


def _restore(snapshot_source: RaceApp, target: RaceApp, trusted: bytes,
             corrupt: bool = False) -> list[Any]:
    snapshots = snapshot_source.list_snapshots(abci.RequestListSnapshots()).snapshots
    offered = target.offer_snapshot(
        abci.RequestOfferSnapshot(snapshot=snapshots[0], app_hash=trusted)
    ).result
    results: list[Any] = [offered]
    for index in range(snapshots[0].chunks):
        chunk = snapshot_source.load_snapshot_chunk(abci.RequestLoadSnapshotChunk(
            height=snapshots[0].height, format=snapshots[0].format, chunk=index)).chunk
        if corrupt:
            chunk = chunk[:-1] + bytes([chunk[-1] ^ 1])
        results.append(target.apply_snapshot_chunk(
            abci.RequestApplySnapshotChunk(index=index, chunk=chunk)).result)
    return results


def test_snapshot_restores_the_same_state(tmp_path: Path, outsider: str) -> None:
    chain = start_chain(tmp_path / "a.db", snapshot_dir=tmp_path / "snaps", snapshot_interval=2)
    chain.block([chain.send_tx(0, outsider, 321)])
    assert chain.app.committed.height == 2
    joiner = RaceApp(tmp_path / "b.db", genesis_chain_id=CHAIN_ID)

    results = _restore(chain.app, joiner, chain.app.committed.app_hash)

    assert results[0] == abci.ResponseOfferSnapshot.ACCEPT
    assert results[-1] == abci.ResponseApplySnapshotChunk.ACCEPT
    info = joiner.info(abci.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (2, chain.app.committed.app_hash)
    assert Chain.resume(joiner, chain).balance(outsider) == 321
    joiner.close()
    chain.app.close()


def test_snapshot_with_wrong_hash_or_corrupt_chunk_is_rejected(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "a.db", snapshot_dir=tmp_path / "snaps", snapshot_interval=1)
    wrong_hash = RaceApp(None, genesis_chain_id=CHAIN_ID)
    corrupt = RaceApp(None, genesis_chain_id=CHAIN_ID)

    assert _restore(chain.app, wrong_hash, b"\x00" * 32)[-1] == (
        abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    )
    assert _restore(chain.app, corrupt, chain.app.committed.app_hash, corrupt=True)[-1] == (
        abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    )
    assert wrong_hash.committed.height == corrupt.committed.height == 0
    for app in (wrong_hash, corrupt, chain.app):
        app.close()


def test_prepare_proposal_respects_max_tx_bytes(chain: Chain, outsider: str) -> None:
    txs = [chain.send_tx(0, outsider, 1) for _ in range(5)]
    three = sum(len(tx) + 3 for tx in txs[:3])  # field tag + 2-byte length each
    response = chain.app.prepare_proposal(
        abci.RequestPrepareProposal(max_tx_bytes=three + 10, txs=txs)
    )
    assert list(response.txs) == txs[:3]


def test_queries_answer_json_and_refuse_bad_paths(chain: Chain) -> None:
    assert chain.query_result("/auth/params")[1]["min_fee_nicoin"] == 1000  # type: ignore[index]
    assert chain.query_result("/nowhere/x")[0] == 2
    assert chain.query_result("/bank/balance/not-an-address")[0] == 60
    assert chain.query_result(f"/auth/account/{address_of(key_from_seed(999))}")[0] == 40
    future = chain.app.committed.height + 5
    old = chain.app.query(abci.RequestQuery(path="/bank/supply", height=future))
    assert old.code == 3
