"""One supervised OS process: started with its output in a log file and its pid in a pid file.

The pid file records the process's start time as well as its pid, so a later ``stop`` from
another shell never signals an unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def _proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it start past the last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    if fields and fields[0] == "Z":
        return None
    return int(fields[19])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead; our own zombies are reaped here)."""
    with contextlib.suppress(ChildProcessError, OSError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    return _proc_start_ticks(pid) is not None


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: the pid, its start time, and the command for the reader."""

    pid: int
    start_ticks: int
    argv: list[str]

    def matches_live_process(self) -> bool:
        return pid_alive(self.pid) and _proc_start_ticks(self.pid) == self.start_ticks

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]),
                       argv=list(data.get("argv", [])))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": self.pid, "start_ticks": self.start_ticks,
                                   "argv": self.argv}))
        tmp.replace(path)


def wait_until_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def terminate_pid(pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until_dead(pid, timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until_dead(pid, 5.0)


@dataclass
class ManagedProcess:
    """A named process with a log file and a pid file; startable from here, stoppable anywhere."""

    name: str
    argv: Sequence[str]
    log_path: Path
    pid_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> int:
        """Start the process in its own session (Ctrl-C in a terminal reaches only us)."""
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid()}, "
                               f"pid file {self.pid_path})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: "
                      f"{' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, **self.env},
                cwd=self.cwd, start_new_session=True,
            )
        ticks = _proc_start_ticks(self._popen.pid) or 0
        PidRecord(self._popen.pid, ticks, list(self.argv)).write(self.pid_path)
        return self._popen.pid

    def record(self) -> PidRecord | None:
        return PidRecord.read(self.pid_path)

    def pid(self) -> int | None:
        record = self.record()
        return record.pid if record else None

    def running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        record = self.record()
        return record is not None and record.matches_live_process()

    def exit_code(self) -> int | None:
        """The exit status when this object started the process and it ended, else None."""
        return None if self._popen is None else self._popen.poll()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after ``timeout``) and remove the pid file."""
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.terminate()
                try:
                    self._popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._popen.kill()
                    self._popen.wait(5.0)
        else:
            record = self.record()
            if record is not None and record.matches_live_process():
                terminate_pid(record.pid, timeout)
        self.pid_path.unlink(missing_ok=True)

    def send_signal(self, signum: int) -> None:
        """Signal the process if it runs (a pid file's process only if it is still ours)."""
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.send_signal(signum)
            return
        record = self.record()
        if record is not None and record.matches_live_process():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signum)

    def kill(self) -> None:
        """SIGKILL, as a crash would; leaves the pid file for post-mortems to overwrite."""
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.kill()
                self._popen.wait(5.0)
            return
        record = self.record()
        if record is not None and record.matches_live_process():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            wait_until_dead(record.pid, 5.0)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_together(processes: Sequence[ManagedProcess], timeout: float = 15.0) -> None:
    """Stop processes that do not depend on each other at once: SIGTERM to all, one shared
    ``timeout``, then SIGKILL for any still running; their pid files are removed."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        while process.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.running():
            process.kill()
        process.pid_path.unlink(missing_ok=True)
