"""``race agent start`` as a real process, and what the chain says it did.

The agent runs exactly as an operator runs it (``python -m governance.main agent start``),
its status read over HTTP; heartbeats are read back from the committed blocks by decoding
the memos of the operator's txs.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from abci_app.tx import decode_tx
from race_node.agent.heartbeat import heartbeat_memo
from race_node.client.rpc import CometRPC
from tests.client.live_node import REPO_ROOT, free_port

Status = dict[str, Any]


class AgentProcess:
    """One agent of a node home, restartable with the same settings."""

    def __init__(self, home: Path, log_path: Path, *args: str) -> None:
        self.home = home
        self.log_path = log_path
        self.status_address = f"127.0.0.1:{free_port()}"
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the process; don't wait for anything."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "governance.main", "agent", "start",
                 "--home", str(self.home), "--status-address", self.status_address,
                 *self.args], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self.process

    def start(self, timeout: float = 60.0) -> Status:
        """Start the agent and wait until its status endpoint answers."""
        self.launch()
        return self.wait_for(lambda status: True, timeout, "the status endpoint to answer")

    def status(self) -> Status | None:
        """The agent's /status document, or None while nothing answers."""
        try:
            return httpx.get(f"http://{self.status_address}/status", timeout=2.0).json()
        except (httpx.HTTPError, json.JSONDecodeError):
            return None

    def wait_for(self, condition: Callable[[Status], bool], timeout: float,
                 what: str) -> Status:
        deadline = time.monotonic() + timeout
        last: Status | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the agent exited ({self.process.returncode}) while "
                                     f"waiting for {what}:\n{self.log_tail()}")
            last = self.status() or last
            if last is not None and condition(last):
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last status {last}\n"
                             f"{self.log_tail()}")

    def wait_until_height(self, height: int, timeout: float = 60.0) -> Status:
        return self.wait_for(lambda s: (s["last_height"] or 0) >= height, timeout,
                             f"the agent to process height {height}")

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def committed_txs(rpc: CometRPC) -> list[bytes]:
    """Every tx in every committed block, read from the blocks themselves (the tx index
    can miss a block committed just before a node stopped)."""
    found: list[bytes] = []
    latest = rpc.latest_height()
    for low in range(1, latest + 1, 20):
        metas = rpc.call("blockchain", minHeight=str(low),
                         maxHeight=str(min(low + 19, latest)))["block_metas"]
        for meta in metas:
            if int(meta["num_txs"]):
                block = rpc.block(int(meta["header"]["height"]))["block"]
                found.extend(base64.b64decode(tx) for tx in block["data"]["txs"])
    return found


def heartbeat_heights(rpc: CometRPC, operator: str) -> list[int]:
    """The height named by every committed heartbeat of ``operator``, sorted, repeats kept."""
    prefix = heartbeat_memo(0).removesuffix("0")
    decoded = [decode_tx(tx) for tx in committed_txs(rpc)]
    return sorted(int(tx.memo.removeprefix(prefix)) for tx in decoded
                  if tx.signer == operator and tx.memo.startswith(prefix))


def assert_one_heartbeat_per_period(heights: list[int], every: int, through: int) -> None:
    """Exactly one heartbeat for each multiple of ``every`` from the first one through
    ``through`` (the last height the agent finished): none repeated, none skipped."""
    repeated = sorted(h for h, n in Counter(heights).items() if n > 1)
    assert not repeated, f"heartbeats sent twice for heights {repeated}"
    assert heights, "no heartbeat was committed"
    expected = list(range(heights[0], through + 1, every))
    assert heights[0] % every == 0 and heights[:len(expected)] == expected, (
        f"heartbeats {heights} should be every {every} blocks through {through}")
