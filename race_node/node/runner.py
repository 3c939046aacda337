"""Start, watch and stop one node: the ABCI application and its cometbft, as a pair.

Order matters. The app starts first and must be listening before cometbft dials it
(cometbft gives up at once if the ABCI socket is not there). On stop, cometbft goes first,
so it never calls into a stopped app; then the app, which has committed every block that
cometbft saw committed. If either process dies on its own, the other is stopped too: a
cometbft without its app, or an app without its cometbft, is not a node.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from race_node.client.rpc import CometRPC
from race_node.node.home import NodeConfigError, NodeHome, find_cometbft
from race_node.node.process import ManagedProcess


class NodeStartError(Exception):
    """A process of the node exited or never became ready; the message holds its log tail."""


def _address_ready(address: str) -> bool:
    """True once something accepts connections on the ABCI address (unix:// or tcp://)."""
    if address.startswith("unix://"):
        return Path(address.removeprefix("unix://")).exists()
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host or "127.0.0.1",
                                                                  int(port)), timeout=0.5):
        return True
    return False


@dataclass
class NodeRunner:
    """The app + cometbft pair of one home directory."""

    home: NodeHome
    app_env: dict[str, str] = field(default_factory=dict)
    cometbft_args: list[str] = field(default_factory=list)
    # The command that serves the ABCI app, before its --home/--address arguments.
    app_command: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "abci_app.abci"])
    app: ManagedProcess = field(init=False)
    cometbft: ManagedProcess = field(init=False)

    def __post_init__(self) -> None:
        self.home.require_initialized()
        self.app_address = self.home.app_address()
        self.app = ManagedProcess(
            name="app",
            argv=[*self.app_command, "--home", str(self.home.root),
                  "--address", self.app_address],
            log_path=self.home.logs_dir / "app.log",
            pid_path=self.home.run_dir / "app.pid",
            env=dict(self.app_env),
        )
        self.cometbft = ManagedProcess(
            name="cometbft",
            argv=[str(find_cometbft()), "start", "--home", str(self.home.root),
                  *self.cometbft_args],
            log_path=self.home.logs_dir / "cometbft.log",
            pid_path=self.home.run_dir / "cometbft.pid",
        )

    # --- lifecycle ------------------------------------------------------------------

    def start(self, ready_timeout: float = 60.0) -> None:
        """Start the app, wait for its socket, start cometbft, wait for its RPC."""
        if self.app.running() or self.cometbft.running():
            raise NodeStartError(f"a node already runs from {self.home.root} "
                                 f"(see {self.home.run_dir})")
        if self.app_address.startswith("unix://"):
            # A socket file left by a killed app would make the readiness check pass early.
            Path(self.app_address.removeprefix("unix://")).unlink(missing_ok=True)
        self.app.start()
        try:
            self._wait(lambda: _address_ready(self.app_address), self.app, ready_timeout,
                       f"the app to listen on {self.app_address}")
            self.cometbft.start()
            with CometRPC(self.home.rpc_url(), timeout=2.0) as rpc:
                self._wait(rpc.health, self.cometbft, ready_timeout,
                           f"cometbft's RPC at {rpc.url}")
        except BaseException:
            self.stop()
            raise

    def _wait(self, ready: Callable[[], bool], process: ManagedProcess, timeout: float,
              what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not process.running():
                raise NodeStartError(
                    f"{process.name} exited while waiting for {what}; "
                    f"last lines of {process.log_path}:\n{process.log_tail()}"
                )
            time.sleep(0.05)
        raise NodeStartError(f"timed out after {timeout:.0f}s waiting for {what}; "
                             f"see {process.log_path}")

    def stop(self, timeout: float = 15.0) -> None:
        """cometbft first, then the app; each gets ``timeout`` seconds before SIGKILL."""
        self.cometbft.stop(timeout)
        self.app.stop(timeout)
        if self.app_address.startswith("unix://"):
            Path(self.app_address.removeprefix("unix://")).unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL both processes, as a crash or power loss would."""
        self.cometbft.kill()
        self.app.kill()

    def running(self) -> bool:
        return self.app.running() and self.cometbft.running()

    def rpc(self, timeout: float = 10.0) -> CometRPC:
        return CometRPC(self.home.rpc_url(), timeout=timeout)

    def dead_process(self) -> ManagedProcess | None:
        """The first process of the pair that is no longer running, if any."""
        for process in (self.app, self.cometbft):
            if not process.running():
                return process
        return None


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While starting processes, let SIGTERM interrupt like Ctrl-C does.

    Start-up code cleans up on KeyboardInterrupt (``NodeRunner.start`` stops what it
    started), so a stop request during start-up never leaves orphaned processes behind.
    """

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Supervised(Protocol):
    """Processes that live together (a node's app and cometbft, a provider's agent and
    sidecar): the first one that died, if any, and a stop for all of them."""

    def dead_process(self) -> ManagedProcess | None: ...

    def stop(self, timeout: float = 15.0) -> None: ...


def run_until_signalled(runners: list[Supervised], on_tick: Callable[[], None] | None = None,
                        tick_seconds: float = 2.0) -> int:
    """Keep ``runners`` (already started) running until SIGINT/SIGTERM or a process dies.

    Returns the exit status for the command: 0 after a requested stop, 1 when a process
    died on its own (its log tail is printed to stderr). Every runner is stopped either
    way, in the order given.
    """
    stop_requested = threading.Event()
    previous = {}

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)
    status = 0
    try:
        last_tick = time.monotonic()
        while not stop_requested.wait(0.2):
            process = next((p for r in runners if (p := r.dead_process()) is not None), None)
            if process is not None:
                print(f"\n{process.name} of {process.log_path.parent.parent} exited "
                      f"unexpectedly; last lines of {process.log_path}:\n{process.log_tail()}",
                      file=sys.stderr)
                status = 1
                break
            if on_tick is not None and time.monotonic() - last_tick >= tick_seconds:
                last_tick = time.monotonic()
                with contextlib.suppress(Exception):
                    on_tick()
    finally:
        # A second Ctrl-C while stopping must not leave half the processes behind.
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        for runner in runners:
            with contextlib.suppress(Exception):
                runner.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


__all__ = ["NodeConfigError", "NodeRunner", "NodeStartError", "Supervised",
           "run_until_signalled", "sigterm_as_interrupt"]
