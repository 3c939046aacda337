"""Account keys on disk: one JSON file per key under ``HOME/keyring/``, readable only by its owner.

A key file holds the ed25519 private key (hex), its public key and the bech32 address.
Files are created with mode 0600 inside a 0700 directory, written atomically, and the
private key never leaves this module except through :meth:`Keyring.export_private_key`,
which the CLI calls only when the user asks for it explicitly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import abci_app.tx as tx

KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyringError(Exception):
    """A key name is invalid, unknown or taken, or a key file is unreadable."""


@dataclass(frozen=True)
class KeyInfo:
    """The public side of a key: safe to print."""

    name: str
    address: str
    public_key_hex: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "public_key": self.public_key_hex}


class Keyring:
    """The keys of one home directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not KEY_NAME_RE.match(name):
            raise KeyringError(
                f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return self.directory / f"{name}.json"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def add(self, name: str, private_key: Ed25519PrivateKey | None = None) -> KeyInfo:
        """Create key ``name`` (a fresh random one unless ``private_key`` is given)."""
        path = self._path(name)
        if path.exists():
            raise KeyringError(f"a key named {name!r} already exists in {self.directory}")
        key = private_key if private_key is not None else tx.generate_private_key()
        public = tx.public_key_bytes(key)
        info = KeyInfo(name=name, address=tx.address_from_public_key(public),
                       public_key_hex=public.hex())
        record = {**info.as_dict(), "type": "ed25519",
                  "private_key": tx.private_key_bytes(key).hex()}
        self._ensure_directory()
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, indent=2)
        os.replace(tmp, path)
        return info

    def import_hex(self, name: str, private_key_hex: str) -> KeyInfo:
        """Add ``name`` from a 32-byte ed25519 private key in hex."""
        try:
            raw = bytes.fromhex(private_key_hex.strip().removeprefix("0x"))
        except ValueError as exc:
            raise KeyringError("the private key must be 64 hex digits") from exc
        if len(raw) != 32:
            raise KeyringError(f"the private key must be 32 bytes (64 hex digits), "
                               f"got {len(raw)} bytes")
        return self.add(name, tx.private_key_from_bytes(raw))

    def _load(self, name: str) -> dict[str, str]:
        path = self._path(name)
        if not path.is_file():
            known = ", ".join(k.name for k in self.list()) or "none"
            raise KeyringError(f"no key named {name!r} in {self.directory} (known keys: {known}); "
                               f"create it with `race keys add {name}`")
        try:
            record = json.loads(path.read_text())
            record["name"], record["address"], record["public_key"], record["private_key"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"the key file {path} is unreadable or damaged") from exc
        return record

    def show(self, name: str) -> KeyInfo:
        record = self._load(name)
        return KeyInfo(record["name"], record["address"], record["public_key"])

    def list(self) -> list[KeyInfo]:
        """Every key, sorted by name (damaged files are skipped)."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = json.loads(path.read_text())
                found.append(KeyInfo(record["name"], record["address"], record["public_key"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found

    def private_key(self, name: str) -> Ed25519PrivateKey:
        """The signing key; for signing in this process, never for display."""
        raw = bytes.fromhex(self._load(name)["private_key"])
        return tx.private_key_from_bytes(raw)

    def export_private_key(self, name: str) -> str:
        """The private key as hex: only for an explicit, user-requested export."""
        return self._load(name)["private_key"]

    def delete(self, name: str) -> KeyInfo:
        info = self.show(name)
        self._path(name).unlink()
        return info

    def resolve_address(self, name_or_address: str) -> str:
        """A bech32 address given either the address itself or a key name in this keyring."""
        if tx.is_valid_address(name_or_address):
            return name_or_address
        if name_or_address.startswith("race1"):
            raise KeyringError(f"{name_or_address!r} is not a valid race address "
                               "(bad bech32 checksum or length)")
        if KEY_NAME_RE.match(name_or_address) and self._path(name_or_address).is_file():
            return self.show(name_or_address).address
        raise KeyringError(f"{name_or_address!r} is neither a race1... address nor a key "
                           f"in {self.directory}")
