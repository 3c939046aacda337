"""The broadcast journal: signed txs persisted before they are broadcast, by a caller's key.

A submission keyed ``"heartbeat/120"`` is signed, then its bytes and hash are written here
in one SQLite transaction, and only then broadcast. A process killed at any point and
started again finds the same bytes under the same key and re-broadcasts them instead of
signing a new tx: the chain sees at most one tx per key (the sequence check refuses any
second copy of the same bytes, and no second tx is ever built while the first can land).

States: ``signed`` (persisted; maybe broadcast), ``accepted`` (CheckTx accepted it),
``committed`` (in a block; ``code`` says whether it succeeded), ``refused`` (CheckTx
refused it for a reason other than its sequence; final), ``dropped`` (it can no longer land:
its sequence was used by another tx and no block holds it; final).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SIGNED = "signed"
ACCEPTED = "accepted"
COMMITTED = "committed"
REFUSED = "refused"
DROPPED = "dropped"
FINAL_STATES = frozenset({COMMITTED, REFUSED, DROPPED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    key TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    tx BLOB NOT NULL,
    signer TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    state TEXT NOT NULL,
    height INTEGER NOT NULL DEFAULT 0,
    code INTEGER NOT NULL DEFAULT 0,
    codespace TEXT NOT NULL DEFAULT '',
    log TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_open ON submissions (signer, state, sequence);
"""


@dataclass(frozen=True)
class JournalEntry:
    """One keyed submission: the exact bytes that were (or will be) broadcast, and its fate."""

    key: str
    hash: str
    tx: bytes
    signer: str
    sequence: int
    state: str
    height: int = 0
    code: int = 0
    codespace: str = ""
    log: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


class BroadcastJournal:
    """Keyed submissions in one SQLite file, safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # FULL: a row reported written survives a power cut, before its tx is broadcast.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, key: str) -> JournalEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, hash, tx, signer, sequence, state, height, code, codespace, log "
                "FROM submissions WHERE key = ?", (key,)).fetchone()
        return None if row is None else JournalEntry(*row)

    def open_entries(self, signer: str) -> list[JournalEntry]:
        """The signer's submissions whose fate is not known yet, by sequence."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, hash, tx, signer, sequence, state, height, code, codespace, log "
                "FROM submissions WHERE signer = ? AND state IN (?, ?) ORDER BY sequence",
                (signer, SIGNED, ACCEPTED)).fetchall()
        return [JournalEntry(*row) for row in rows]

    def record_signed(self, entry: JournalEntry) -> None:
        """Persist a freshly signed tx under its key (replacing a dropped or refused one)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO submissions (key, hash, tx, signer, sequence, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, tx = excluded.tx, "
                "signer = excluded.signer, sequence = excluded.sequence, "
                "state = excluded.state, height = 0, code = 0, codespace = '', log = '', "
                "updated_at = excluded.updated_at",
                (entry.key, entry.hash, entry.tx, entry.signer, entry.sequence, SIGNED, now,
                 now))

    def mark(self, key: str, state: str, *, height: int = 0, code: int = 0,
             codespace: str = "", log: str = "") -> None:
        """Record what became of a submission."""
        with self._lock:
            self._db.execute(
                "UPDATE submissions SET state = ?, height = ?, code = ?, codespace = ?, "
                "log = ?, updated_at = ? WHERE key = ?",
                (state, height, code, codespace, log, time.time(), key))
