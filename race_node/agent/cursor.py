"""The agent's cursor: the last height whose duties all finished, on disk.

Written atomically (a temporary file, fsync, rename, fsync of the directory) after every
handler of a height has finished, so after a crash at any point the agent resumes at the
first height it had not finished. Duties are idempotent for a height (their txs go
through the broadcast journal), so redoing that one height sends nothing twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class CursorError(Exception):
    """The cursor file is unreadable, or belongs to another chain."""


@dataclass(frozen=True)
class CursorState:
    height: int
    chain_id: str


class Cursor:
    """``HOME/agent/cursor.json``: ``{"height": N, "chain_id": "..."}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> CursorState | None:
        """The saved cursor, or None for an agent that never finished a height."""
        if not self.path.exists():
            return None
        try:
            document = json.loads(self.path.read_text())
            return CursorState(int(document["height"]), str(document["chain_id"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CursorError(f"the agent's cursor {self.path} is unreadable ({exc}); "
                              "fix or delete it (the agent then starts at the chain's head)"
                              ) from exc

    def save(self, state: CursorState) -> None:
        """Replace the cursor atomically and durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        payload = json.dumps({"height": state.height, "chain_id": state.chain_id}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
