"""The ABCI 2.0 application: a thin adapter from CometBFT's requests to the modules.

Each method states what CometBFT guarantees and what it must return (CometBFT's ABCI
2.0 spec). Decisions live in the modules (docs/modules.md); this file decodes, opens
contexts, routes, and encodes. No exception leaves a method: a bad tx becomes a non-zero
code and a log, and a failure inside block execution that is not a tx's fault halts
the process rather than let this validator diverge (DESIGN.md §3).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from abci_app import wiring
from abci_app.core.context import BlockInfo, Context, Event
from abci_app.core.errors import (
    BAD_QUERY,
    QUERY_HEIGHT_UNAVAILABLE,
    QUERY_TOO_COSTLY,
    UNKNOWN_QUERY_PATH,
    ChainError,
)
from abci_app.core.paging import page_request, pagination
from abci_app.core.pipeline import TxOutcome, TxPipeline
from abci_app.core.registry import ModuleRegistry
from abci_app.modules.staking import keeper as staking
from abci_app.store import (
    CommittedState,
    MeteredReader,
    Overlay,
    PendingCommit,
    ReadBudgetExceeded,
)
from abci_app.store.snapshots import SnapshotStore
from abci_app.tx.codec import tx_hash
from race_protocol.gen.tendermint.abci import types_pb2 as abci

log = logging.getLogger("race.app")

APP_NAME = "race-network"
APP_VERSION = 1
# Txs per block (docs/modules.md §13): bounds FinalizeBlock's work, and ProcessProposal's
# on a byzantine block of txs no validator has seen.
MAX_BLOCK_TXS = 10_000
# Rows one query may read (docs/modules.md §13): queries share the app's event loop with
# consensus, so a query that would read O(state) is refused, not served.
QUERY_ROW_BUDGET = 100_000

__all__ = ["APP_NAME", "APP_VERSION", "RaceApp", "TxOutcome"]


def _add_abci_events(
    target: Any, events: list[Event], indexed: frozenset[tuple[str, str]]
) -> None:
    """Append ``events`` to a repeated ``abci.Event`` field, built in place (no copies).

    CometBFT's tx indexer writes one entry per indexed attribute: index only those
    modules declare searchable (each costs CometBFT CPU and disk per tx).
    """
    for e in events:
        event = target.add()
        event.type = e.type
        attributes = event.attributes
        for k, v in e.attributes:
            attribute = attributes.add()
            attribute.key = k
            attribute.value = v
            if (e.type, k) in indexed:
                attribute.index = True


def _time_ns(timestamp: Any) -> int:
    return int(timestamp.seconds) * 1_000_000_000 + int(timestamp.nanos)


class RaceApp:
    """State machine behind CometBFT: one instance per node, one DB under ``home``.

    ``genesis_chain_id`` is the chain id of the node's genesis.json: a node joining by
    state sync never sees InitChain, and must not take its chain id from a peer's
    snapshot. Without it, state sync is refused.
    """

    def __init__(
        self,
        db_path: str | Path | None,
        registry: ModuleRegistry | None = None,
        snapshot_dir: str | Path | None = None,
        snapshot_interval: int = 0,
        snapshot_keep: int = 2,
        genesis_chain_id: str = "",
    ) -> None:
        self.registry = registry if registry is not None else wiring.build_registry()
        self.pipeline: TxPipeline = wiring.tx_pipeline(self.registry)
        self.committed = CommittedState(db_path)
        self.genesis_chain_id = genesis_chain_id
        self.chain_id = self.committed.meta.get("chain_id", b"").decode()
        if genesis_chain_id and self.chain_id and self.chain_id != genesis_chain_id:
            self.committed.close()
            raise ValueError(f"the state in {db_path} is of chain {self.chain_id!r} but the "
                             f"node's genesis is of chain {genesis_chain_id!r}")
        self.last_block_time_ns = int(self.committed.meta.get("block_time_ns", b"0").decode())
        self.check_state = Overlay(self.committed)
        self.block_state: Overlay | None = None
        self.block_info: BlockInfo | None = None
        self.pending: PendingCommit | None = None
        self.snapshots = SnapshotStore(snapshot_dir, snapshot_interval, snapshot_keep)
        self.check_block = self._next_block_info()

    def close(self) -> None:
        """Release the database."""
        self.committed.close()

    # --- helpers -----------------------------------------------------------------------

    def _next_block_info(self) -> BlockInfo:
        """What CheckTx and queries see as 'the block': the next height, last block time."""
        return BlockInfo(self.committed.height + 1, self.last_block_time_ns, self.chain_id)

    def _query_context(self) -> Context:
        info = BlockInfo(self.committed.height, self.last_block_time_ns, self.chain_id)
        reader = MeteredReader(self.committed, QUERY_ROW_BUDGET)
        return Context("query", info, Overlay(reader, read_only=True), self.registry)

    def _invariants(self, ctx: Context, data: bytes) -> dict[str, Any]:
        """``/app/invariants``: broken invariants of every module (``{"broken"}``), or,
        when ``data`` asks for a page, of that page of modules in installation order
        (``key`` names the first), with ``modules`` and ``pagination``. Either way the
        query's row budget bounds the work."""
        names = self.registry.names()
        if not data:
            return {"broken": self.registry.check_invariants(ctx)}
        page = page_request(data, default_limit=len(names))
        if page.key and page.key not in names:
            raise BAD_QUERY(f"no module {page.key!r}; modules: {', '.join(names)}")
        first = names.index(page.key) if page.key else 0
        chosen = names[first : first + page.limit]
        following = names[first + page.limit] if first + page.limit < len(names) else None
        return {"broken": self.registry.check_invariants(ctx, chosen), "modules": chosen,
                "pagination": pagination(following)}

    # --- ABCI: info/query connection ---------------------------------------------------

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Last committed height and app hash: CometBFT replays every block after it."""
        height = self.committed.height
        return abci.ResponseInfo(
            data=APP_NAME,
            version=_package_version(),
            app_version=APP_VERSION,
            last_block_height=height,
            last_block_app_hash=self.committed.app_hash if height else b"",
        )

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """JSON answers from the last committed state (docs/modules.md §11)."""
        height = self.committed.height
        try:
            if req.height not in (0, height):
                raise QUERY_HEIGHT_UNAVAILABLE(
                    f"only the latest committed height {height} is served; query with height 0"
                )
            ctx = self._query_context()
            path = req.path or ""
            if path.startswith("/p2p/filter/"):
                return abci.ResponseQuery(code=0, height=height)
            if path.rstrip("/") == "/app/info":
                result: Any = {
                    "height": height,
                    "app_hash": self.committed.app_hash.hex().upper() if height else "",
                    "chain_id": self.chain_id,
                    "modules": self.registry.names(),
                    "message_types": self.registry.type_urls(),
                }
            elif path.rstrip("/") == "/app/invariants":
                result = self._invariants(ctx, req.data)
            elif path.startswith("/app/"):
                raise UNKNOWN_QUERY_PATH(f"{path!r}: /app answers info and invariants")
            else:
                result = self.registry.query(ctx, path, req.data)
            value = json.dumps(result, sort_keys=True, separators=(",", ":")).encode()
            return abci.ResponseQuery(code=0, value=value, height=height, key=path.encode())
        except ChainError as refusal:
            return abci.ResponseQuery(
                code=refusal.code, codespace=refusal.codespace, log=refusal.log, height=height
            )
        except ReadBudgetExceeded:
            return abci.ResponseQuery(
                code=QUERY_TOO_COSTLY.code, codespace=QUERY_TOO_COSTLY.codespace,
                log=f"{req.path!r} would read more than {QUERY_ROW_BUDGET} rows; ask for a "
                    'smaller page (data {"key": ..., "limit": N}) or, for /app/invariants, '
                    "fewer modules at a time", height=height)
        except Exception:
            log.error("query %r crashed:\n%s", req.path, traceback.format_exc())
            return abci.ResponseQuery(
                code=BAD_QUERY.code, codespace="app", log="the query failed", height=height
            )

    # --- ABCI: mempool connection ------------------------------------------------------

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Admit a tx to the mempool only if it would succeed on top of the pending ones."""
        recheck = req.type == abci.RECHECK
        ctx = Context("recheck" if recheck else "check", self.check_block, self.check_state,
                      self.registry)
        outcome = self.pipeline.check_transaction(ctx, req.tx, recheck=recheck)
        return abci.ResponseCheckTx(
            code=outcome.code,
            codespace=outcome.codespace,
            log=outcome.log,
            gas_wanted=1,
        )

    # --- ABCI: consensus connection ----------------------------------------------------

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Import genesis: validators from CometBFT's genesis, app_state into the modules.

        The writes join the first block's and are committed with it, so a crash before
        the first Commit makes CometBFT call InitChain again on restart.
        """
        try:
            if self.genesis_chain_id and req.chain_id != self.genesis_chain_id:
                raise ValueError(f"InitChain is for chain {req.chain_id!r}, the node's "
                                 f"genesis.json for {self.genesis_chain_id!r}")
            self.chain_id = req.chain_id
            app_state = json.loads(req.app_state_bytes or b"{}")
            if not isinstance(app_state, dict):
                raise ValueError("app_state must be a JSON object")
            height = max(int(req.initial_height), 1)
            info = BlockInfo(height, _time_ns(req.time), req.chain_id)
            state = Overlay(self.committed)
            ctx = Context("genesis", info, state, self.registry)
            genesis_validators = []
            for update in req.validators:
                if update.pub_key.WhichOneof("sum") != "ed25519":
                    raise ValueError("only ed25519 validator keys are supported")
                genesis_validators.append((update.pub_key.ed25519, update.power))
            staking.import_genesis_validators(ctx, genesis_validators)
            self.registry.init_genesis(ctx, app_state)
            broken = self.registry.check_invariants(ctx)
            if broken:
                raise ValueError(f"genesis breaks invariants: {broken}")
            self.block_state = state
            # Until the first Commit, the mempool must already see genesis balances.
            self.check_state = state.child()
            self.check_block = self._next_block_info()
            self.last_block_time_ns = info.time_ns
            pending = self.committed.prepare(0, state)
            return abci.ResponseInitChain(app_hash=pending.app_hash)
        except Exception as bad:
            self._halt(f"genesis app_state is invalid: {bad}")
            raise AssertionError("unreachable") from None

    def _proposal_context(self, height: int) -> Context:
        """What a proposal's txs are checked against: the state the block will run on (the
        last committed one, or genesis before the first Commit), read-only."""
        parent = self.block_state if self.block_state is not None else self.committed
        info = BlockInfo(height, self.last_block_time_ns, self.chain_id)
        return Context("check", info, Overlay(parent, read_only=True), self.registry)

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Keep mempool order; leave out what ProcessProposal refuses (a tx failing the
        stateless checks, a repeat), and stay within ``max_tx_bytes`` (proto-encoded size)
        and MAX_BLOCK_TXS. A tx that passed CheckTx can fail here after a change of the
        envelope limits, before CometBFT's re-check has evicted it."""
        ctx = self._proposal_context(int(req.height))
        budget = int(req.max_tx_bytes)
        chosen: list[bytes] = []
        seen: set[bytes] = set()
        used = 0
        for tx in req.txs:
            size = len(tx) + 1 + _varint_size(len(tx))
            if used + size > budget or len(chosen) == MAX_BLOCK_TXS:
                break
            digest = tx_hash(tx)
            if digest in seen or self.pipeline.check_included(ctx, tx)[0].code:
                continue
            seen.add(digest)
            used += size
            chosen.append(tx)
        return abci.ResponsePrepareProposal(txs=chosen)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Reject a block an honest proposer could not have built (docs/modules.md §13).

        The rule: at most MAX_BLOCK_TXS txs, no tx twice, and every tx passes the
        stateless checks (size, decoding, chain id, signature, messages' own checks)
        against the state the block runs on. It reads only the block and that state, so
        every validator decides the same; PrepareProposal applies the same rule to the
        same state, so a block built by it is never rejected. What only the state can
        decide (sequence, fee, the messages) is not checked here: such a tx gets its code
        in FinalizeBlock.
        """
        reject = abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        if len(req.txs) > MAX_BLOCK_TXS:
            log.warning("rejecting block %d: %d txs, more than %d", req.height, len(req.txs),
                        MAX_BLOCK_TXS)
            return reject
        ctx = self._proposal_context(int(req.height))
        seen: set[bytes] = set()
        admitted = []
        for index, tx in enumerate(req.txs):
            digest = tx_hash(tx)
            if digest in seen:
                log.warning("rejecting block %d: tx %d repeats an earlier one", req.height,
                            index)
                return reject
            seen.add(digest)
            outcome, checked = self.pipeline.check_included(ctx, tx)
            if checked is None:
                log.warning("rejecting block %d: tx %d fails the stateless checks: code %d "
                            "(%s) %s", req.height, index, outcome.code, outcome.codespace,
                            outcome.log)
                return reject
            admitted.append(checked)
        for checked in admitted:
            self.pipeline.remember(ctx, checked)
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """No vote extensions are used yet."""
        return abci.ResponseExtendVote(vote_extension=b"")

    def verify_vote_extension(
        self, req: abci.RequestVerifyVoteExtension
    ) -> abci.ResponseVerifyVoteExtension:
        """Only empty extensions are valid while none are used."""
        status = (
            abci.ResponseVerifyVoteExtension.ACCEPT
            if not req.vote_extension
            else abci.ResponseVerifyVoteExtension.REJECT
        )
        return abci.ResponseVerifyVoteExtension(status=status)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute a decided block: hooks, every tx, validator updates, and the new app hash.

        Nothing is persisted here; Commit does that. A crash before Commit loses the
        block's writes and CometBFT replays the block.
        """
        expected = self.committed.height + 1
        if self.committed.height and req.height != expected:
            self._halt(f"FinalizeBlock for height {req.height}, but the app expects {expected}")
        info = BlockInfo(
            int(req.height), _time_ns(req.time), self.chain_id, req.proposer_address, req.hash
        )
        state = self.block_state if self.block_state is not None else Overlay(self.committed)
        ctx = Context("finalize", info, state, self.registry)
        indexed = self.registry.indexed_attributes
        # Results are built in place in the response: a block's worth of tx results is
        # never copied from one message into another.
        response = abci.ResponseFinalizeBlock()
        tx_results = response.tx_results
        try:
            self.registry.begin_block(ctx)
            for tx in req.txs:
                outcome = self.pipeline.deliver_transaction(ctx, tx)
                result = tx_results.add()
                if outcome.code:
                    result.code = outcome.code
                if outcome.codespace:
                    result.codespace = outcome.codespace
                if outcome.log:
                    result.log = outcome.log
                _add_abci_events(result.events, outcome.events, indexed)
            self.registry.end_block(ctx)
            updates = staking.take_validator_updates(ctx)
        except Exception:
            self._halt(f"block {req.height} failed outside any tx:\n{traceback.format_exc()}")
        self.block_state = state
        self.block_info = info
        self.pending = self.committed.prepare(int(req.height), state)
        _add_abci_events(response.events, ctx.events, indexed)
        response.app_hash = self.pending.app_hash
        for pub_key, power in updates:
            update = response.validator_updates.add()
            update.pub_key.ed25519 = pub_key
            update.power = power
        return response

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist the finalized block in one SQLite transaction; reset the mempool state."""
        pending = self.pending
        if pending is None:
            self._halt("Commit without a finalized block")
            raise AssertionError("unreachable")
        time_ns = self.block_info.time_ns if self.block_info else self.last_block_time_ns
        self.committed.commit(
            pending,
            {"chain_id": self.chain_id.encode(), "block_time_ns": str(time_ns).encode()},
        )
        self.last_block_time_ns = time_ns
        self.pending = None
        self.block_state = None
        self.check_state = Overlay(self.committed)
        self.check_block = self._next_block_info()
        self.snapshots.maybe_take(self.committed)
        log.info(
            "committed height %d (%d writes), app hash %s",
            pending.height,
            sum(len(rows) for rows in pending.writes.values()),
            pending.app_hash.hex().upper(),
        )
        return abci.ResponseCommit(retain_height=0)

    # --- ABCI: snapshot connection -----------------------------------------------------

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """The snapshots this node can serve to state-syncing peers."""
        return abci.ResponseListSnapshots(snapshots=self.snapshots.list())

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Accept a well-formed snapshot in our format when our own state is empty.

        ``req.app_hash`` is the light-client verified app hash at the snapshot's height:
        the restored state must hash to it (abci_app.store.snapshots).
        """
        if self.committed.height:
            return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.ABORT)
        if not self.genesis_chain_id:
            log.error("state sync refused: the app was started without the chain id of the "
                      "node's genesis.json (python -m abci_app.abci reads HOME/config)")
            return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.ABORT)
        result = self.snapshots.offer(req.snapshot, req.app_hash)
        return abci.ResponseOfferSnapshot(result=result)

    def load_snapshot_chunk(
        self, req: abci.RequestLoadSnapshotChunk
    ) -> abci.ResponseLoadSnapshotChunk:
        """One chunk of one of our snapshots (empty if we do not have it)."""
        chunk = self.snapshots.load_chunk(int(req.height), int(req.format), int(req.chunk))
        return abci.ResponseLoadSnapshotChunk(chunk=chunk)

    def apply_snapshot_chunk(
        self, req: abci.RequestApplySnapshotChunk
    ) -> abci.ResponseApplySnapshotChunk:
        """Collect chunks; after the last, restore the state and check it against the app hash."""
        result = self.snapshots.apply_chunk(int(req.index), req.chunk, self.committed,
                                            self.genesis_chain_id)
        if result == abci.ResponseApplySnapshotChunk.ACCEPT and self.committed.height:
            self.chain_id = self.genesis_chain_id
            self.last_block_time_ns = int(self.committed.meta["block_time_ns"].decode(), 10)
            self.check_state = Overlay(self.committed)
            self.check_block = self._next_block_info()
        return abci.ResponseApplySnapshotChunk(result=result)

    def discard_uncommitted(self) -> None:
        """Drop a finalized block that was not committed: what a crash before Commit does."""
        if self.committed.height == 0:
            raise RuntimeError("before the first Commit, genesis lives in the pending block")
        self.pending = None
        self.block_state = None
        self.block_info = None
        self.check_state = Overlay(self.committed)
        self.check_block = self._next_block_info()

    # --- failure -----------------------------------------------------------------------

    def _halt(self, reason: str) -> None:
        """Stop the process: continuing could commit a state other validators do not have."""
        log.critical("halting: %s", reason)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(70)


def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _package_version() -> str:
    try:
        return version("race-network")
    except PackageNotFoundError:
        return "0.0.0"
