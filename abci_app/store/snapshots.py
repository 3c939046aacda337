"""State-sync snapshots: every row of every module table at a committed height, in chunks.

A new node can join from a snapshot instead of replaying every block. Format 1: the
rows as tagged JSON, zlib-compressed, cut into chunks; the metadata lists each chunk's
SHA-256.

Everything a peer sends is untrusted until checked (DESIGN.md §3):

* the height is the one CometBFT offered (its light client verified the app hash there);
  the document must name the same height, and its ``meta`` may carry only the chain id
  and the block time, never the height, digest or app hash;
* the chain id must be the one in the node's own genesis.json, and the block time a
  non-negative 64-bit integer (it serves CheckTx and queries until the first block after
  the snapshot replaces it with the header's);
* the rows must hash to the trusted app hash; only then is anything committed;
* an offer announces at most :data:`MAX_SNAPSHOT_CHUNKS` chunks of at most
  :data:`CHUNK_BYTES` each, and the payload inflates to at most :data:`MAX_STATE_BYTES`
  (a zip bomb stops there);
* a malformed offer, descriptor or chunk is a refusal code, never an exception (an
  exception on the snapshot connection stops the node).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

from abci_app.store import apphash
from abci_app.store.committed import CommittedState, PendingCommit
from abci_app.store.schema import APP_META, METADATA, primary_key_columns, value_columns
from race_protocol.gen.tendermint.abci import types_pb2 as abci
from race_protocol.integers import is_decimal

log = logging.getLogger("race.snapshots")

SNAPSHOT_FORMAT = 1
CHUNK_BYTES = 4 * 1024 * 1024
# At most 1 GiB of compressed chunks held while a snapshot arrives.
MAX_SNAPSHOT_CHUNKS = 256
# The largest state a format-1 snapshot may inflate to.
MAX_STATE_BYTES = 1024 * 1024 * 1024
# A chunk's hash in the metadata: 64 hex digits, plus JSON quoting and separators.
_HASH_HEX = 64
MAX_METADATA_BYTES = MAX_SNAPSHOT_CHUNKS * (_HASH_HEX + 4) + 2
MAX_BLOCK_TIME_NS = 2**63 - 1
_META_KEYS = ("block_time_ns", "chain_id")
_DESCRIPTOR = "snapshot.json"


class SnapshotRefused(ValueError):
    """A snapshot (or one of its parts) that must not be used; the message says why."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b": value.hex()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"b"} or not isinstance(value["b"], str):
            raise SnapshotRefused(f"bad tagged value {value!r}")
        return bytes.fromhex(value["b"])
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise SnapshotRefused(f"a {type(value).__name__} is not a column value")


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


def _inflate(payload: bytes) -> bytes:
    """Decompress at most MAX_STATE_BYTES; a payload that would inflate further is refused."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, MAX_STATE_BYTES)
    except zlib.error as bad:
        raise SnapshotRefused(f"the payload is not zlib data: {bad}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise SnapshotRefused(f"the payload inflates past {MAX_STATE_BYTES} bytes or is cut")
    if inflater.unused_data:
        raise SnapshotRefused("bytes follow the compressed state")
    return out


def _checked_meta(document: dict[str, Any], chain_id: str) -> dict[str, bytes]:
    """The document's chain id and block time, each checked; nothing else may be there."""
    meta = document.get("meta")
    if not isinstance(meta, dict) or sorted(meta) != sorted(_META_KEYS):
        keys = sorted(meta) if isinstance(meta, dict) else meta
        raise SnapshotRefused(f"meta must hold exactly {list(_META_KEYS)}, got {keys!r}")
    if meta["chain_id"] != chain_id:
        raise SnapshotRefused(f"the snapshot is of chain {meta['chain_id']!r}; this node's "
                              f"genesis is {chain_id!r}")
    block_time = meta["block_time_ns"]
    if (not isinstance(block_time, str) or not is_decimal(block_time)
            or not 0 <= int(block_time, 10) <= MAX_BLOCK_TIME_NS):
        raise SnapshotRefused(f"block_time_ns {block_time!r} is not a time in nanoseconds")
    return {"block_time_ns": block_time.encode(), "chain_id": chain_id.encode()}


def restore_state(committed: CommittedState, payload: bytes, trusted_app_hash: bytes,
                  height: int, chain_id: str) -> None:
    """Load a payload into an empty store at ``height`` if it is the trusted state.

    ``height`` and ``trusted_app_hash`` come from CometBFT's OfferSnapshot, ``chain_id``
    from the node's genesis. Raises :class:`SnapshotRefused` (nothing committed) unless
    the document names the same height and chain, its rows hash to the trusted app hash,
    and its block time is in range.
    """
    if committed.height:
        raise SnapshotRefused(f"the store already holds height {committed.height}")
    try:
        document = json.loads(_inflate(payload))
    except (ValueError, RecursionError) as bad:
        raise SnapshotRefused(f"the state is not JSON: {bad}") from None
    if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotRefused(f"not a format-{SNAPSHOT_FORMAT} snapshot document")
    if document.get("height") != height or isinstance(document.get("height"), bool):
        raise SnapshotRefused(f"the document is of height {document.get('height')!r}, "
                              f"the offered snapshot of height {height}")
    meta = _checked_meta(document, chain_id)
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise SnapshotRefused("tables must be an object")
    writes: dict[Any, dict[tuple[Any, ...], dict[str, Any] | None]] = {}
    digest = 0
    for name in sorted(tables):
        table = METADATA.tables.get(name)
        if table is None or table is APP_META:
            raise SnapshotRefused(f"unknown table {name!r}")
        names = value_columns(table)
        width = len(primary_key_columns(table))
        rows = tables[name]
        if not isinstance(rows, list):
            raise SnapshotRefused(f"{name}: rows must be a list")
        table_writes = writes.setdefault(table, {})
        for entry in rows:
            if (not isinstance(entry, list) or len(entry) != 2
                    or not isinstance(entry[0], list) or len(entry[0]) != width
                    or not isinstance(entry[1], list) or len(entry[1]) != len(names)):
                raise SnapshotRefused(f"{name}: a row is not [key, values] of its columns")
            key = tuple(_decode_value(k) for k in entry[0])
            values = tuple(_decode_value(v) for v in entry[1])
            if key in table_writes:
                raise SnapshotRefused(f"{name}: key {key!r} appears twice")
            table_writes[key] = dict(zip(names, values, strict=True))
            digest = apphash.add_term(digest, apphash.row_term(name, key, values))
    app_hash = apphash.app_hash(digest)
    if app_hash != trusted_app_hash:
        raise SnapshotRefused(f"the state's app hash {app_hash.hex()} is not the trusted "
                              f"{trusted_app_hash.hex()}")
    committed.commit(PendingCommit(height, writes, digest, app_hash), meta)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a crash leaves the old file or none, never half."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _descriptor_snapshot(path: Path) -> abci.Snapshot:
    """A stored descriptor as an ABCI Snapshot; ValueError/KeyError/TypeError if broken."""
    descriptor = json.loads(path.read_text())
    chunk_hashes = descriptor["chunk_hashes"]
    snapshot = abci.Snapshot(
        height=descriptor["height"],
        format=descriptor["format"],
        chunks=descriptor["chunks"],
        hash=bytes.fromhex(descriptor["hash"]),
        metadata=json.dumps(chunk_hashes).encode(),
    )
    if (snapshot.height != int(path.parent.name) or len(chunk_hashes) != snapshot.chunks
            or not all((path.parent / f"chunk-{i}").is_file()
                       for i in range(snapshot.chunks))):
        raise ValueError("the descriptor does not match its directory")
    return snapshot


def _chunk_hashes(snapshot: abci.Snapshot) -> list[str]:
    """The offer's chunk hashes, or SnapshotRefused."""
    if not 0 < snapshot.chunks <= MAX_SNAPSHOT_CHUNKS:
        raise SnapshotRefused(f"{snapshot.chunks} chunks; at most {MAX_SNAPSHOT_CHUNKS}")
    if len(snapshot.metadata) > MAX_METADATA_BYTES:
        raise SnapshotRefused(f"metadata of {len(snapshot.metadata)} bytes")
    try:
        hashes = json.loads(snapshot.metadata)
    except (ValueError, RecursionError):
        raise SnapshotRefused("metadata is not JSON") from None
    if (not isinstance(hashes, list) or len(hashes) != snapshot.chunks
            or not all(isinstance(h, str) and len(h) == _HASH_HEX
                       and all(c in "0123456789abcdef" for c in h) for h in hashes)):
        raise SnapshotRefused("metadata must list one SHA-256 hex digest per chunk")
    return hashes


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
        """After Commit: take a snapshot every ``interval`` heights, keep the newest few.

        A snapshot is a convenience for peers, not consensus: a failure to take one (a full
        disk, or a bug) is logged and the node goes on, since halting a validator over it
        would cost the chain a vote for nothing.
        """
        if not self.directory or self.interval <= 0 or committed.height % self.interval:
            return
        try:
            self._take(committed)
        except Exception:
            log.exception("snapshot at height %d not taken", committed.height)

    def _take(self, committed: CommittedState) -> None:
        assert self.directory is not None
        payload = export_state(committed)
        chunks = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)]
        if len(chunks) > MAX_SNAPSHOT_CHUNKS:
            log.error("state at height %d needs %d chunks, more than peers accept (%d); "
                      "no snapshot taken", committed.height, len(chunks), MAX_SNAPSHOT_CHUNKS)
            return
        target = self.directory / str(committed.height)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        for index, chunk in enumerate(chunks):
            _write_atomically(target / f"chunk-{index}", chunk)
        descriptor = {
            "height": committed.height,
            "format": SNAPSHOT_FORMAT,
            "chunks": len(chunks),
            "hash": hashlib.sha256(payload).hexdigest(),
            "chunk_hashes": [hashlib.sha256(c).hexdigest() for c in chunks],
        }
        # Written last, and whole: a snapshot without its descriptor is never listed.
        _write_atomically(target / _DESCRIPTOR, json.dumps(descriptor).encode())
        heights = sorted(int(p.name) for p in self.directory.iterdir() if is_decimal(p.name))
        for old in heights[: -self.keep]:
            shutil.rmtree(self.directory / str(old), ignore_errors=True)

    def list(self) -> list[abci.Snapshot]:
        """Our snapshots, newest first; a broken descriptor is skipped with a warning."""
        if not self.directory or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*/{_DESCRIPTOR}")):
            if not is_decimal(path.parent.name):
                continue
            try:
                found.append(_descriptor_snapshot(path))
            except (OSError, ValueError, KeyError, TypeError, RecursionError) as bad:
                log.warning("skipping snapshot %s: %s", path.parent, bad)
        return sorted(found, key=lambda s: s.height, reverse=True)

    def load_chunk(self, height: int, fmt: int, index: int) -> bytes:
        """A chunk's bytes, or empty when we do not have it."""
        if not self.directory or fmt != SNAPSHOT_FORMAT or index < 0 or height <= 0:
            return b""
        path = self.directory / str(height) / f"chunk-{index}"
        try:
            return path.read_bytes() if path.is_file() else b""
        except OSError as bad:
            log.warning("cannot read %s: %s", path, bad)
            return b""

    def offer(
        self, snapshot: abci.Snapshot, trusted_app_hash: bytes
    ) -> abci.ResponseOfferSnapshot.Result:
        """Start restoring ``snapshot`` if it is in our format and its offer is well formed."""
        if snapshot.format != SNAPSHOT_FORMAT:
            return abci.ResponseOfferSnapshot.REJECT_FORMAT
        try:
            if snapshot.height <= 0:
                raise SnapshotRefused(f"height {snapshot.height}")
            if len(snapshot.hash) != 32 or len(trusted_app_hash) != 32:
                raise SnapshotRefused("the snapshot hash and the app hash are 32 bytes")
            hashes = _chunk_hashes(snapshot)
        except SnapshotRefused as bad:
            log.warning("refusing snapshot at height %d: %s", snapshot.height, bad)
            return abci.ResponseOfferSnapshot.REJECT
        self._restoring = snapshot
        self._trusted_app_hash = trusted_app_hash
        self._chunk_hashes = hashes
        self._chunks = [None] * snapshot.chunks
        return abci.ResponseOfferSnapshot.ACCEPT

    def apply_chunk(
        self, index: int, chunk: bytes, committed: CommittedState, chain_id: str
    ) -> abci.ResponseApplySnapshotChunk.Result:
        """Keep a verified chunk; restore once all are in."""
        snapshot = self._restoring
        if snapshot is None or not 0 <= index < len(self._chunks):
            return abci.ResponseApplySnapshotChunk.ABORT
        if len(chunk) > CHUNK_BYTES or (
                hashlib.sha256(chunk).hexdigest() != self._chunk_hashes[index]):
            self._forget()
            log.warning("refusing snapshot at height %d: chunk %d is not the announced one",
                        snapshot.height, index)
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        self._chunks[index] = chunk
        if any(c is None for c in self._chunks):
            return abci.ResponseApplySnapshotChunk.ACCEPT
        payload = b"".join(c for c in self._chunks if c is not None)
        trusted = self._trusted_app_hash
        self._forget()
        try:
            if hashlib.sha256(payload).digest() != snapshot.hash:
                raise SnapshotRefused("the chunks do not hash to the snapshot's hash")
            restore_state(committed, payload, trusted, int(snapshot.height), chain_id)
        except SnapshotRefused as bad:
            log.warning("refusing snapshot at height %d: %s", snapshot.height, bad)
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        except Exception:
            log.exception("snapshot restore failed")
            return abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        return abci.ResponseApplySnapshotChunk.ACCEPT

    def _forget(self) -> None:
        self._restoring = None
        self._chunks = []
        self._chunk_hashes = []
