"""State-sync snapshots: every row of every module table at a committed height, in chunks.

A new node can join from a snapshot instead of replaying every block. Format 1: the
rows as tagged JSON, zlib-compressed, cut into chunks; the metadata lists each chunk's
SHA-256, and a restored state is accepted only if its app hash equals the light-client
verified one CometBFT passes to OfferSnapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zlib
from pathlib import Path
from typing import Any

from abci_app.store import apphash
from abci_app.store.committed import CommittedState, PendingCommit
from abci_app.store.schema import APP_META, METADATA, value_columns
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from race_protocol.integers import is_decimal

log = logging.getLogger("race.snapshots")

SNAPSHOT_FORMAT = 1
CHUNK_BYTES = 4 * 1024 * 1024
_META_KEYS = ("chain_id", "block_time_ns")


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b": value.hex()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return bytes.fromhex(value["b"])
    return value


def export_state(committed: CommittedState) -> bytes:
    """The committed state as one compressed payload."""
    tables: dict[str, list[list[Any]]] = {}
    for name in sorted(METADATA.tables):
        table = METADATA.tables[name]
        if table is APP_META:
            continue
        names = value_columns(table)
        tables[name] = [
            [[_encode_value(k) for k in key], [_encode_value(row[n]) for n in names]]
            for key, row in committed.all_rows(table)
        ]
    document = {
        "format": SNAPSHOT_FORMAT,
        "height": committed.height,
        "meta": {k: committed.meta.get(k, b"").decode() for k in _META_KEYS},
        "tables": tables,
    }
    return zlib.compress(json.dumps(document, sort_keys=True).encode(), 6)


def restore_state(committed: CommittedState, payload: bytes, trusted_app_hash: bytes) -> bool:
    """Load a payload into an empty store if its app hash is the trusted one."""
    document = json.loads(zlib.decompress(payload))
    writes: dict[Any, dict[tuple[Any, ...], dict[str, Any] | None]] = {}
    digest = 0
    for name, rows in sorted(document["tables"].items()):
        table = METADATA.tables.get(name)
        if table is None:
            log.warning("snapshot has unknown table %s", name)
            return False
        names = value_columns(table)
        table_writes = writes.setdefault(table, {})
        for raw_key, raw_values in rows:
            key = tuple(_decode_value(k) for k in raw_key)
            values = tuple(_decode_value(v) for v in raw_values)
            table_writes[key] = dict(zip(names, values, strict=True))
            digest = apphash.add_term(digest, apphash.row_term(name, key, values))
    app_hash = apphash.app_hash(digest)
    if app_hash != trusted_app_hash:
        log.warning("snapshot app hash %s != trusted %s", app_hash.hex(), trusted_app_hash.hex())
        return False
    meta = {k: str(v).encode() for k, v in document["meta"].items()}
    committed.commit(PendingCommit(int(document["height"]), writes, digest, app_hash), meta)
    return True


class SnapshotStore:
    """Snapshots on disk under ``directory/<height>/`` plus one restore in progress."""

    def __init__(self, directory: str | Path | None, interval: int, keep: int) -> None:
        self.directory = Path(directory) if directory else None
        self.interval = interval
        self.keep = max(keep, 1)
        self._restoring: abci.Snapshot | None = None
        self._trusted_app_hash = b""
        self._chunks: list[bytes | None] = []
        self._chunk_hashes: list[str] = []

    def maybe_take(self, committed: CommittedState) -> None:
        """After Commit: take a snapshot every ``interval`` heights, keep the newest few."""
        if not self.directory or self.interval <= 0 or committed.height % self.interval:
            return
        payload = export_state(committed)
        chunks = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)]
        target = self.directory / str(committed.height)
        target.mkdir(parents=True, exist_ok=True)
        for index, chunk in enumerate(chunks):
            (target / f"chunk-{index}").write_bytes(chunk)
        descriptor = {
            "height": committed.height,
            "format": SNAPSHOT_FORMAT,
            "chunks": len(chunks),
            "hash": hashlib.sha256(payload).hexdigest(),
            "chunk_hashes": [hashlib.sha256(c).hexdigest() for c in chunks],
        }
        (target / "snapshot.json").write_text(json.dumps(descriptor))
        heights = sorted(int(p.name) for p in self.directory.iterdir() if is_decimal(p.name))
        for old in heights[: -self.keep]:
            shutil.rmtree(self.directory / str(old), ignore_errors=True)

    def list(self) -> list[abci.Snapshot]:
        """Our snapshots, newest first."""
        if not self.directory or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*/snapshot.json"), reverse=True):
            descriptor = json.loads(path.read_text())
            found.append(
                abci.Snapshot(
                    height=descriptor["height"],
                    format=descriptor["format"],
                    chunks=descriptor["chunks"],
                    hash=bytes.fromhex(descriptor["hash"]),
                    metadata=json.dumps(descriptor["chunk_hashes"]).encode(),
                )
            )
        return sorted(found, key=lambda s: s.height, reverse=True)

    def load_chunk(self, height: int, fmt: int, index: int) -> bytes:
        """A chunk's bytes, or empty when we do not have it."""
        if not self.directory or fmt != SNAPSHOT_FORMAT:
            return b""
        path = self.directory / str(height) / f"chunk-{index}"
        return path.read_bytes() if path.is_file() else b""

    def offer(
        self, snapshot: abci.Snapshot, trusted_app_hash: bytes
    ) -> abci.ResponseOfferSnapshot.Result:
        """Start restoring ``snapshot`` if we understand its format."""
        if snapshot.format != SNAPSHOT_FORMAT:
            return abci.ResponseOfferSnapshot.REJECT_FORMAT
        try:
            hashes = json.loads(snapshot.metadata)
            if len(hashes) != snapshot.chunks or snapshot.chunks == 0:
                return abci.ResponseOfferSnapshot.REJECT
        except ValueError:
            return abci.ResponseOfferSnapshot.REJECT
        self._restoring = snapshot
        self._trusted_app_hash = trusted_app_hash
        self._chunk_hashes = [str(h) for h in hashes]
        self._chunks = [None] * snapshot.chunks
        return abci.ResponseOfferSnapshot.ACCEPT

    def apply_chunk(
        self, index: int, chunk: bytes, committed: CommittedState
    ) -> abci.ResponseApplySnapshotChunk.Result:
        """Keep a verified chunk; restore once all are in."""
        snapshot = self._restoring
        if snapshot is None or not 0 <= index < len(self._chunks):
            return abci.ResponseApplySnapshotChunk.ABORT
        if hashlib.sha256(chunk).hexdigest() != self._chunk_hashes[index]:
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        self._chunks[index] = chunk
        if any(c is None for c in self._chunks):
            return abci.ResponseApplySnapshotChunk.ACCEPT
        payload = b"".join(c for c in self._chunks if c is not None)
        self._restoring = None
        self._chunks = []
        if hashlib.sha256(payload).digest() != snapshot.hash:
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        try:
            restored = restore_state(committed, payload, self._trusted_app_hash)
        except Exception:
            log.exception("snapshot restore failed")
            restored = False
        if not restored:
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        return abci.ResponseApplySnapshotChunk.ACCEPT
