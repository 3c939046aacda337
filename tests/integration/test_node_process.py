"""`race start` runs the app and cometbft together and stops both on SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from race_node.client.rpc import CometRPC
from race_node.localnet import Localnet, LocalnetSpec
from race_node.node.home import NodeHome
from race_node.node.process import PidRecord

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def race_start(home: NodeHome) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "governance.main", "start", "--home", str(home.root), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for_pid_files(home: NodeHome, timeout: float = 60.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app = PidRecord.read(home.run_dir / "app.pid")
        comet = PidRecord.read(home.run_dir / "cometbft.pid")
        if app and comet:
            return app.pid, comet.pid
        time.sleep(0.1)
    raise AssertionError("race start never wrote its pid files")


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT],
                         ids=["sigterm", "ctrl-c"])
def test_race_start_stops_app_and_cometbft_together(node_home: NodeHome,
                                                    stop_signal: signal.Signals) -> None:
    process = race_start(node_home)
    try:
        app_pid, comet_pid = wait_for_pid_files(node_home)
        with CometRPC(node_home.rpc_url()) as rpc:
            rpc.wait_for_height(1, timeout=60)

        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "node stopped" in output
    assert gone(app_pid) and gone(comet_pid)
    assert not (node_home.run_dir / "app.pid").exists()
    assert "stopped at height" in (node_home.logs_dir / "app.log").read_text()


def test_race_start_fails_clearly_when_the_app_cannot_start(node_home: NodeHome) -> None:
    # A corrupt database: the app exits at once, and `race start` says where to look.
    state = node_home.root / "app"
    state.mkdir(exist_ok=True)
    (state / "app.db").write_bytes(b"this is not a SQLite database" * 100)

    result = subprocess.run(
        [sys.executable, "-m", "governance.main", "start", "--home", str(node_home.root)],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 1
    assert "app exited" in result.stderr and "app.log" in result.stderr


def test_localnet_foreground_stops_every_validator_on_ctrl_c(tmp_path: Path) -> None:
    """What `make run` does: `race localnet start --foreground`, then Ctrl-C."""
    from race_cli import free_port_pair


    base = min(free_port_pair())
    net = Localnet.create(tmp_path / "net", LocalnetSpec(
        validators=2, base_port=base if base < 65000 else 40000, timeout_commit="100ms",
        providers=False))
    process = subprocess.Popen(
        [sys.executable, "-m", "governance.main", "localnet", "start", "--dir",
         str(net.directory), "--foreground"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        net.wait_for_height(2, timeout=90)
        deadline = time.monotonic() + 60  # the gateway starts once the validators are up
        while not net.gateway_status().running:
            assert process.poll() is None and time.monotonic() < deadline, "no gateway"
            time.sleep(0.2)
        pids = [PidRecord.read(net.home(i).run_dir / f"{name}.pid")
                for i in range(2) for name in ("app", "cometbft")]
        pids.append(PidRecord.read(net.directory / "gateway" / "gateway.pid"))
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            net.stop()
    assert process.returncode == 0, output
    assert "localnet stopped" in output
    assert all(record is not None and gone(record.pid) for record in pids)
    assert not any(s.app_running or s.cometbft_running for s in net.status(query_rpc=False))
    assert not net.gateway_status().running
