"""The one sign -> broadcast -> wait path, for the CLI, the gateways, the agent and the tests.

* :func:`broadcast_signed` submits bytes someone already signed and returns CheckTx's
  verdict. A tx the node already holds ("tx already exists in cache": the same bytes were
  broadcast before) counts as accepted, so re-broadcasting is always safe.
* :func:`wait_for_commit` waits for the block that holds a tx.
* :class:`Broadcaster` signs with one key. It reads the account's sequence once and then
  counts locally, one per tx CheckTx accepts, so one key can have several txs in one block.
  When CheckTx refuses a tx with the auth module's WRONG_SEQUENCE (another client used
  the key, or the node restarted and lost its mempool), it re-broadcasts its own pending
  txs, waits for a block, re-reads the sequence and signs again, a bounded number of times.
* With a :class:`~race_node.client.journal.BroadcastJournal`, :meth:`Broadcaster.submit_once`
  makes a submission idempotent by a caller-chosen key: the signed bytes are persisted
  before they are broadcast, and a later call with the same key re-broadcasts those bytes
  (or reports their fate) instead of building a new tx.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

from abci_app.modules.auth.errors import FEE_TOO_LOW, WRONG_SEQUENCE
from abci_app.tx import build_signed_tx
from race_node.client.journal import (
    ACCEPTED,
    COMMITTED,
    DROPPED,
    REFUSED,
    SIGNED,
    BroadcastJournal,
    JournalEntry,
)
from race_node.client.keyring import Keyring
from race_node.client.queries import ChainQueries, QueryFailed
from race_node.client.rpc import (
    BroadcastResult,
    CometRPC,
    NodeUnreachable,
    RPCError,
    TxNotCommitted,
    TxOutcome,
    TxResult,
    tx_hash,
)
from race_protocol.gen.race.v1 import query_pb2

# CometBFT's answer when the bytes are already in its mempool cache (pending or committed).
ALREADY_IN_CACHE = "tx already exists in cache"
DEFAULT_COMMIT_TIMEOUT_S = 30.0
# How often a commit wait with a ``still_wanted`` check asks it.
STILL_WANTED_EVERY_S = 1.0


class BroadcastError(Exception):
    """A tx could not be signed or submitted; the message says what to do."""


class AccountNotFound(BroadcastError):
    """The signer's account does not exist on chain: it has never received coins."""


def broadcast_signed(rpc: CometRPC, tx_bytes: bytes) -> BroadcastResult:
    """Submit signed bytes; CheckTx's verdict. Bytes the node already holds count as accepted.

    Raises NodeUnreachable when the node does not answer (the bytes may or may not have
    arrived), RPCError for any other failure of the call.
    """
    try:
        return rpc.broadcast_tx_sync(tx_bytes)
    except NodeUnreachable:
        raise
    except RPCError as exc:
        if ALREADY_IN_CACHE in str(exc):
            return BroadcastResult(code=0, log=ALREADY_IN_CACHE, hash=tx_hash(tx_bytes))
        raise


def wait_for_commit(rpc: CometRPC, hash_hex: str,
                    timeout: float = DEFAULT_COMMIT_TIMEOUT_S,
                    still_wanted: Callable[[], bool] | None = None) -> TxResult:
    """The committed result of an accepted tx; TxNotCommitted after ``timeout`` seconds.

    ``still_wanted``, when given, is asked about once a second: a False answer (the caller
    went away) ends the wait early with TxNotCommitted, so a server does not keep a worker
    waiting for nobody.
    """
    if still_wanted is None:
        return rpc.wait_for_tx(hash_hex, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return rpc.wait_for_tx(hash_hex, timeout=max(0.0, min(STILL_WANTED_EVERY_S, left)))
        except TxNotCommitted:
            if left <= STILL_WANTED_EVERY_S:
                raise TxNotCommitted(
                    f"tx {hash_hex} was accepted into the mempool but not committed "
                    f"within {timeout:.0f}s") from None
            if not still_wanted():
                raise TxNotCommitted(f"stopped waiting for tx {hash_hex}: the caller is "
                                     "gone") from None


@dataclass(frozen=True)
class Signer:
    """A key that signs txs: its name (for messages), address and private key."""

    name: str
    address: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_keyring(cls, keyring: Keyring, name: str) -> Signer:
        return cls(name=name, address=keyring.show(name).address,
                   private_key=keyring.private_key(name))


@dataclass(frozen=True)
class Submission:
    """What became of one submitted tx: CheckTx's verdict and, once known, its block."""

    hash: str
    sequence: int
    check: BroadcastResult
    key: str | None = None
    committed: TxResult | None = None

    @property
    def accepted(self) -> bool:
        """CheckTx accepted it: it is in the mempool, or already in a block."""
        return self.check.ok

    @property
    def ok(self) -> bool:
        """Accepted, and (when its block is known) executed without error."""
        return self.check.ok and (self.committed is None or self.committed.ok)


@dataclass
class BroadcastStats:
    """Counters for status pages: txs accepted by CheckTx, and txs that failed."""

    sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Pending:
    """A tx of ours that CheckTx accepted (or may have) and no block is known to hold."""

    sequence: int
    hash: str
    tx: bytes
    key: str | None
    # Counted in stats.sent by this process (a journaled tx from an earlier run is not).
    counted: bool = False


def _submission_from_entry(entry: JournalEntry) -> Submission:
    """A journaled submission's recorded outcome, without touching the node."""
    if entry.state == COMMITTED:
        committed = TxResult(hash=entry.hash, height=entry.height, index=0, code=entry.code,
                             log=entry.log, events=[], codespace=entry.codespace)
        return Submission(entry.hash, entry.sequence, BroadcastResult(0, "", entry.hash),
                          entry.key, committed)
    code = entry.code if entry.state == REFUSED else 0
    log = entry.log or ("" if entry.state != DROPPED else
                        "dropped: its sequence was used by another tx")
    check = BroadcastResult(code=code, log=log, hash=entry.hash, codespace=entry.codespace)
    return Submission(entry.hash, entry.sequence, check, entry.key)


class Broadcaster:
    """Signs, broadcasts and waits for one key, tracking its sequence locally.

    Thread-safe: one lock serialises submissions, so sequences are handed out in order.
    ``fee_nicoin`` None pays the chain's minimum fee (re-read if governance raises it);
    ``chain_id`` None asks the node.
    """

    def __init__(self, rpc: CometRPC, signer: Signer, *, chain_id: str | None = None,
                 fee_nicoin: int | None = None, journal: BroadcastJournal | None = None,
                 max_sequence_retries: int = 3, block_wait_s: float = 5.0,
                 index_grace_s: float = 2.0) -> None:
        self.rpc = rpc
        self.signer = signer
        self.journal = journal
        self.stats = BroadcastStats()
        self.max_sequence_retries = max_sequence_retries
        self.block_wait_s = block_wait_s
        self.index_grace_s = index_grace_s
        self._chain_id = chain_id
        self._auto_fee = fee_nicoin is None
        self._fee_nicoin = fee_nicoin
        self._next_sequence: int | None = None
        self._pending: dict[int, _Pending] = {}
        # The last height whose txs were reported through observe_block (None: not used).
        self.observed_through: int | None = None
        self._lock = threading.RLock()
        if journal is not None:
            for entry in journal.open_entries(signer.address):
                self._pending[entry.sequence] = _Pending(entry.sequence, entry.hash, entry.tx,
                                                         entry.key)

    # --- what the chain says ----------------------------------------------------------

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.rpc.status()["node_info"]["network"])
        return self._chain_id

    @property
    def fee_nicoin(self) -> int:
        if self._fee_nicoin is None:
            self._fee_nicoin = int(self._queries().auth_params().min_fee_nicoin)
        return self._fee_nicoin

    def _queries(self) -> ChainQueries:
        return ChainQueries(self.rpc)

    def committed_sequence(self) -> int:
        """The signer's sequence in the last committed state."""
        return self._committed_sequence_at()[0]

    def _committed_sequence_at(self) -> tuple[int, int]:
        """(the signer's committed sequence, the height that state is at)."""
        account, height = self._account()
        deadline = time.monotonic() + self.block_wait_s
        while (account is None and time.monotonic() < deadline
               and self.rpc.abci_info()["last_block_height"] < 1):
            # Genesis accounts appear when the app commits its first block; a node that has
            # just started may not have (its block store runs ahead of the app's commit).
            time.sleep(0.1)
            account, height = self._account()
        if account is None:
            raise AccountNotFound(
                f"account {self.signer.address} ({self.signer.name}) does not exist on chain "
                "yet: it must receive coins before it can send a tx")
        return int(account.sequence), height

    def _account(self) -> tuple[query_pb2.Account | None, int]:
        try:
            return self._queries().account_at(self.signer.address)
        except QueryFailed as failure:
            if failure.unreachable:
                raise NodeUnreachable(failure.log) from failure
            raise BroadcastError(f"cannot read account {self.signer.address}: "
                                 f"{failure.log}") from failure

    # --- submitting -------------------------------------------------------------------

    def submit(self, messages: Sequence[Message], memo: str = "") -> Submission:
        """Sign ``messages`` with the next sequence and broadcast; CheckTx's verdict.

        A refusal is an answer (``Submission.accepted`` False, with the chain's code and
        log); only an unreachable node or a missing account raises.
        """
        with self._lock:
            return self._submit_new(None, messages, memo)

    def submit_and_wait(self, messages: Sequence[Message], memo: str = "",
                        timeout: float = DEFAULT_COMMIT_TIMEOUT_S) -> Submission:
        """:meth:`submit`, then wait for the block when CheckTx accepted it."""
        submission = self.submit(messages, memo)
        if not submission.accepted:
            return submission
        return self.wait(submission, timeout)

    def wait(self, submission: Submission,
             timeout: float = DEFAULT_COMMIT_TIMEOUT_S) -> Submission:
        """The submission with its committed result; TxNotCommitted after ``timeout``."""
        if submission.committed is not None:
            return submission
        committed = wait_for_commit(self.rpc, submission.hash, timeout)
        with self._lock:
            self._pending.pop(submission.sequence, None)
            self._record_committed(submission.key, committed)
        return Submission(submission.hash, submission.sequence, submission.check,
                          submission.key, committed)

    def submit_once(self, key: str, messages: Sequence[Message],
                    memo: str = "") -> Submission:
        """Submit at most one tx for ``key``, whatever happened to earlier calls.

        The first call signs, persists the bytes under ``key``, then broadcasts. A later
        call (in this process or after a crash) never signs again while those bytes can
        still land: it reports their block if they have one, re-broadcasts them if not,
        and returns the recorded refusal if CheckTx refused them for good.
        """
        if self.journal is None:
            raise BroadcastError("submit_once needs a broadcast journal")
        with self._lock:
            entry = self.journal.get(key)
            if entry is None:
                return self._submit_new(key, messages, memo)
            if not entry.final:
                entry = self._settle_entry(entry)
            if entry.final:
                return _submission_from_entry(entry)
            return self._rebroadcast(entry)

    def settle(self) -> list[JournalEntry]:
        """Look up the journal's open submissions; returns those whose fate is now known.

        An accepted tx is committed once a block holds it, and dropped once the signer's
        sequence has moved past it and no block holds it (it can never land). One still
        waiting is broadcast again, so a node restart cannot strand it.
        """
        if self.journal is None:
            return []
        with self._lock:
            settled = []
            for entry in self.journal.open_entries(self.signer.address):
                after = self._settle_entry(entry)
                if after.final:
                    settled.append(after)
                    continue
                # Not in a block yet. A restarted node has lost its mempool, so send the
                # same bytes again (a node that still holds them answers "already in cache").
                if not self._rebroadcast(after).accepted:
                    after = self.journal.get(after.key) or after
                    if after.final:  # refused for good
                        settled.append(after)
            return settled

    def observe_block(self, height: int, tx_hashes: Sequence[str],
                      outcomes: Sequence[TxOutcome]) -> list[JournalEntry]:
        """Record which journaled txs block ``height`` holds; returns them.

        A caller that observes every block in order (the agent) learns each tx's fate
        from the blocks themselves, independent of the node's tx index; a tx whose sequence
        another tx used is then known to be dropped.
        """
        settled: list[JournalEntry] = []
        with self._lock:
            if self.journal is not None and tx_hashes:
                by_hash = {e.hash: e for e in self.journal.open_entries(self.signer.address)}
                for hash_hex, outcome in zip(tx_hashes, outcomes, strict=False):
                    entry = by_hash.get(hash_hex)
                    if entry is None:
                        continue
                    self._pending.pop(entry.sequence, None)
                    self._record_committed(entry.key, TxResult(
                        hash=hash_hex, height=height, index=0, code=outcome.code,
                        log=outcome.log, events=outcome.events, codespace=outcome.codespace))
                    settled.append(self.journal.get(entry.key) or entry)
            self.observed_through = height
        return settled

    def resync(self) -> None:
        """Forget the local sequence; the next tx re-reads it from the chain."""
        with self._lock:
            self._next_sequence = None

    # --- internals --------------------------------------------------------------------

    def _submit_new(self, key: str | None, messages: Sequence[Message],
                    memo: str) -> Submission:
        check: BroadcastResult | None = None
        for attempt in range(self.max_sequence_retries + 1):
            sequence = self._sequence(wait_for_block=attempt > 1)
            tx = build_signed_tx(self.signer.private_key, self.chain_id, sequence,
                                 self.fee_nicoin, list(messages), memo=memo)
            hash_hex = tx_hash(tx)
            if key is not None and self.journal is not None:
                self.journal.record_signed(JournalEntry(key, hash_hex, tx, self.signer.address,
                                                        sequence, SIGNED))
            check = broadcast_signed(self.rpc, tx)
            if check.ok:
                self._accepted(_Pending(sequence, hash_hex, tx, key))
                return Submission(hash_hex, sequence, check, key)
            retry = attempt < self.max_sequence_retries
            # Refused at its first broadcast, so no mempool holds these bytes: signing
            # again cannot put two txs for one key on chain.
            if WRONG_SEQUENCE.matches(check.code) and retry:
                self._next_sequence = None
                continue
            if FEE_TOO_LOW.matches(check.code) and self._auto_fee and retry:
                self._fee_nicoin = None
                continue
            break
        assert check is not None
        if WRONG_SEQUENCE.matches(check.code):
            self._next_sequence = None
        self.stats.failed += 1
        if key is not None and self.journal is not None:
            self.journal.mark(key, REFUSED, code=check.code, codespace=check.codespace,
                              log=check.log)
        return Submission(check.hash, sequence, check, key)

    def _sequence(self, wait_for_block: bool) -> int:
        if self._next_sequence is None:
            self._recover_sequence(wait_for_block)
        assert self._next_sequence is not None
        return self._next_sequence

    def _accepted(self, pending: _Pending) -> None:
        """CheckTx accepted ``pending``: the next tx takes the following sequence."""
        if not pending.counted:
            self.stats.sent += 1
            pending = _Pending(pending.sequence, pending.hash, pending.tx, pending.key, True)
        self._pending[pending.sequence] = pending
        if self._next_sequence is not None:
            self._next_sequence = max(self._next_sequence, pending.sequence + 1)
        if pending.key is not None and self.journal is not None:
            self.journal.mark(pending.key, ACCEPTED)

    def _rebroadcast(self, entry: JournalEntry) -> Submission:
        """Send a journaled tx's bytes again; its key keeps those bytes whatever the answer."""
        pending = self._pending.get(entry.sequence)
        if pending is None or pending.hash != entry.hash:
            pending = _Pending(entry.sequence, entry.hash, entry.tx, entry.key)
        check = broadcast_signed(self.rpc, entry.tx)
        if WRONG_SEQUENCE.matches(check.code):
            # Our earlier txs may be missing from the mempool (a node restart): put them
            # back in order, this one included, then see whether it went in.
            self._pending[entry.sequence] = pending
            self._recover_sequence(wait_for_block=False)
            if entry.sequence in self._pending:
                check = BroadcastResult(code=0, log="", hash=entry.hash)
        if check.ok:
            self._accepted(self._pending.get(entry.sequence, pending))
        elif not WRONG_SEQUENCE.matches(check.code):
            # Refused for a reason of its own (funds, params): these bytes will not land.
            assert self.journal is not None
            self.journal.mark(entry.key, REFUSED, code=check.code, codespace=check.codespace,
                              log=check.log)
            self.stats.failed += 1
        # WRONG_SEQUENCE: a gap before it, or a block raced us; it stays open and a later
        # settle() finds it committed or dropped.
        return Submission(entry.hash, entry.sequence, check, entry.key)

    def _recover_sequence(self, wait_for_block: bool) -> None:
        """Re-read the sequence, putting our own pending txs back in the mempool first.

        A node restart empties its mempool: our accepted-but-uncommitted txs must go in
        again, in sequence order, before a new one can follow them.
        """
        if wait_for_block:
            self._wait_for_next_block()
        committed = self.committed_sequence()
        next_sequence = committed
        for sequence in sorted(self._pending):
            pending = self._pending[sequence]
            if sequence < committed or sequence != next_sequence:
                # In a block already, or unreachable behind a gap: settle() decides which.
                del self._pending[sequence]
                continue
            if not broadcast_signed(self.rpc, pending.tx).ok:
                del self._pending[sequence]
                continue
            next_sequence += 1
        self._next_sequence = next_sequence
        for pending in list(self._pending.values()):
            self._accepted(pending)

    def _wait_for_next_block(self) -> None:
        with contextlib.suppress(TimeoutError):
            self.rpc.wait_for_height(self.rpc.latest_height() + 1, timeout=self.block_wait_s)

    def _settle_entry(self, entry: JournalEntry) -> JournalEntry:
        """Find out whether an open submission is in a block, or can no longer get into one."""
        assert self.journal is not None
        committed = self.rpc.tx(entry.hash)
        if committed is None:
            sequence, at_height = self._committed_sequence_at()
            if entry.sequence >= sequence:
                return entry  # its turn has not come yet: it can still land
            # Another tx has its sequence, or it is in a block the tx index has not got (the
            # index lags the state, and can miss a block committed just before the node
            # stopped). A caller that observes every block knows which.
            if self.observed_through is not None:
                if at_height > self.observed_through:
                    return entry  # not every block up to that state observed yet
            else:
                committed = self._look_up_again(entry.hash)
        if committed is None:
            self._pending.pop(entry.sequence, None)
            self.journal.mark(entry.key, DROPPED,
                              log="dropped: its sequence was used by another tx")
            self.stats.failed += 1
        else:
            self._pending.pop(entry.sequence, None)
            self._record_committed(entry.key, committed)
        return self.journal.get(entry.key) or entry

    def _look_up_again(self, hash_hex: str) -> TxResult | None:
        """The tx index's answer after giving it ``index_grace_s`` to catch up."""
        deadline = time.monotonic() + self.index_grace_s
        while time.monotonic() < deadline:
            time.sleep(0.2)
            found = self.rpc.tx(hash_hex)
            if found is not None:
                return found
        return None

    def _record_committed(self, key: str | None, committed: TxResult) -> None:
        if not committed.ok:
            self.stats.failed += 1
        if key is not None and self.journal is not None:
            self.journal.mark(key, COMMITTED, height=committed.height, code=committed.code,
                              codespace=committed.codespace, log=committed.log)


__all__ = [
    "ALREADY_IN_CACHE",
    "AccountNotFound",
    "BroadcastError",
    "BroadcastStats",
    "Broadcaster",
    "Signer",
    "Submission",
    "TxNotCommitted",
    "broadcast_signed",
    "wait_for_commit",
]
