"""The executor's record of its work, in ``HOME/agent/inference.sqlite``.

Per request it keeps the ticket (the relay-signed bytes and signature), the token counts
and output commitment it will settle, and the transcript a verifier may ask for (the
forwarded request and the output tokens with their top-k logprobs). The ticket moves from
``pending`` to a settlement batch to ``settled`` (or ``dropped``, with a note). The store
is bounded: transcripts older than the verification window, and the oldest beyond
``max_transcripts``, are removed; settled and dropped tickets go with them.

SQLite in WAL mode; every call is short and runs in a worker thread under one lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PENDING = "pending"
BATCHED = "batched"
SETTLED = "settled"
DROPPED = "dropped"
DEFAULT_MAX_TRANSCRIPTS = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    height INTEGER NOT NULL,
    request_id BLOB NOT NULL,
    ticket BLOB NOT NULL,
    signature BLOB NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    commitment BLOB NOT NULL,
    state TEXT NOT NULL,
    batch TEXT,
    note TEXT,
    finished_at REAL NOT NULL,
    PRIMARY KEY (height, request_id)
);
CREATE INDEX IF NOT EXISTS tickets_by_state ON tickets (state, height);
CREATE INDEX IF NOT EXISTS tickets_by_batch ON tickets (batch);
CREATE TABLE IF NOT EXISTS transcripts (
    height INTEGER NOT NULL,
    request_id BLOB NOT NULL,
    request BLOB NOT NULL,
    output BLOB NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (height, request_id)
);
CREATE INDEX IF NOT EXISTS transcripts_by_time ON transcripts (stored_at);
"""


@dataclass(frozen=True)
class StoredTicket:
    """A ticket the executor ran, as it will settle it."""

    height: int
    request_id: bytes
    ticket: bytes
    signature: bytes
    prompt_tokens: int
    completion_tokens: int
    commitment: bytes
    state: str = PENDING
    batch: str | None = None


class ExecutorStore:
    """The tickets and transcripts of one executor."""

    def __init__(self, path: Path, max_transcripts: int = DEFAULT_MAX_TRANSCRIPTS) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self.max_transcripts = max_transcripts
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, ticket: StoredTicket, request: bytes, output: bytes) -> None:
        """Keep a finished request: its ticket to settle (when it produced tokens) and its
        transcript. Recording the same ticket again changes nothing."""
        state = ticket.state if ticket.completion_tokens > 0 else DROPPED
        note = None if ticket.completion_tokens > 0 else "produced nothing"
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (ticket.height, ticket.request_id, ticket.ticket, ticket.signature,
                     ticket.prompt_tokens, ticket.completion_tokens, ticket.commitment,
                     state, None, note, now))
                self._db.execute("INSERT OR IGNORE INTO transcripts VALUES (?,?,?,?,?)",
                                 (ticket.height, ticket.request_id, request, output, now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _tickets(self, where: str, args: tuple[object, ...]) -> list[StoredTicket]:
        with self._lock:
            rows = self._db.execute(
                "SELECT height, request_id, ticket, signature, prompt_tokens, "
                f"completion_tokens, commitment, state, batch FROM tickets WHERE {where}",
                args).fetchall()
        return [StoredTicket(*row) for row in rows]

    def pending(self, limit: int) -> list[StoredTicket]:
        """Tickets waiting for a batch, oldest first."""
        return self._tickets("state = ? ORDER BY height, request_id LIMIT ?", (PENDING, limit))

    def batch(self, batch: str) -> list[StoredTicket]:
        return self._tickets("batch = ? ORDER BY height, request_id", (batch,))

    def open_batches(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT batch FROM tickets WHERE state = ? "
                                    "ORDER BY batch", (BATCHED,)).fetchall()
        return [row[0] for row in rows]

    def assign(self, batch: str, tickets: list[StoredTicket]) -> None:
        """Put ``tickets`` in ``batch`` (persisted before the batch is submitted)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE tickets SET state = ?, batch = ? WHERE height = ? AND request_id = ?",
                [(BATCHED, batch, t.height, t.request_id) for t in tickets])
            self._db.execute("COMMIT")

    def finish_batch(self, batch: str, state: str, note: str | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE tickets SET state = ?, note = ? WHERE batch = ?",
                             (state, note, batch))

    def drop(self, tickets: list[StoredTicket], note: str) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE tickets SET state = ?, note = ? WHERE height = ? AND request_id = ?",
                [(DROPPED, note, t.height, t.request_id) for t in tickets])

    def release(self, tickets: list[StoredTicket]) -> None:
        """Back to pending (their batch failed for another ticket's reason)."""
        with self._lock:
            self._db.executemany(
                "UPDATE tickets SET state = ?, batch = NULL WHERE height = ? AND request_id = ?",
                [(PENDING, t.height, t.request_id) for t in tickets])

    def transcript(self, height: int, request_id: bytes) -> tuple[bytes, bytes] | None:
        """The forwarded request and the output (GenerateResponse bytes), if still kept."""
        with self._lock:
            row = self._db.execute("SELECT request, output FROM transcripts WHERE height = ? "
                                   "AND request_id = ?", (height, request_id)).fetchone()
        return None if row is None else (row[0], row[1])

    def prune(self, keep_from_height: int) -> int:
        """Drop transcripts below ``keep_from_height`` and the oldest past the cap, and
        finished tickets below it; returns how many transcripts went."""
        with self._lock:
            removed = self._db.execute("DELETE FROM transcripts WHERE height < ?",
                                       (keep_from_height,)).rowcount
            excess = self._db.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0] \
                - self.max_transcripts
            if excess > 0:
                removed += self._db.execute(
                    "DELETE FROM transcripts WHERE rowid IN (SELECT rowid FROM transcripts "
                    "ORDER BY stored_at LIMIT ?)", (excess,)).rowcount
            self._db.execute("DELETE FROM tickets WHERE height < ? AND state IN (?, ?)",
                             (keep_from_height, SETTLED, DROPPED))
        return removed

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM tickets GROUP BY state"
                                    ).fetchall()
            transcripts = self._db.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0]
        return {**{state: count for state, count in rows}, "transcripts": transcripts}
