"""``race agent`` refuses settings it cannot work with, before touching the network."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from governance.main import app
from race_node.client.keyring import Keyring
from tests.client.live_node import free_port


def race(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


def test_a_public_status_address_needs_an_explicit_flag(tmp_path: Path) -> None:
    Keyring(tmp_path / "keyring").add("validator")

    code, text = race("agent", "start", "--home", str(tmp_path), "--node",
                      "http://127.0.0.1:9", "--status-address", "0.0.0.0:26690")

    assert code == 1 and "--allow-remote-status" in text


def test_a_missing_operator_key_is_named(tmp_path: Path) -> None:
    code, text = race("agent", "start", "--home", str(tmp_path), "--node",
                      "http://127.0.0.1:9", "--key", "operator")

    assert code == 1 and "cannot load the operator key" in text and "'operator'" in text


def test_status_says_when_no_agent_answers() -> None:
    code, text = race("agent", "status", "--status-address", f"127.0.0.1:{free_port()}",
                      "--output", "json")

    assert code == 1 and "no agent answered" in text
