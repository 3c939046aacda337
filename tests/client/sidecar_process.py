"""A real GPU sidecar process (``race sidecar serve``) for the client and agent tests.

Started exactly as a provider starts it, from the checkout; ready once it logs that it
is serving. A Race-only sidecar (``--no-inference``) starts in seconds; one serving the
tiny vLLM model takes about a minute on a small CPU machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.client.live_node import REPO_ROOT, free_port

SERVING_LINE = "race sidecar: serving on"


class SidecarProcess:
    """``race sidecar serve ARGS --address 127.0.0.1:PORT``, restartable on the same port."""

    def __init__(self, log_path: Path, args: list[str], token: str | None = None,
                 port: int | None = None) -> None:
        self.address = f"127.0.0.1:{port or free_port()}"
        self.log_path = log_path
        self.args = args
        self.token = token
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.pop("RACE_SIDECAR_TOKEN", None)
        if self.token is not None:
            env["RACE_SIDECAR_TOKEN"] = self.token
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "governance.main", "sidecar", "serve", *self.args,
                 "--address", self.address], cwd=REPO_ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sidecar exited early:\n{self.log_tail()}")
            if SERVING_LINE in self.log_path.read_text(errors="replace")[offset:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the sidecar did not start in {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the sidecar drains), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]
