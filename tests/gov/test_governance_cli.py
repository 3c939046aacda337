"""The `race gov`, `race price` and `race models` commands without a chain: help with
examples everywhere, and readable errors for bad input or an unreachable node."""

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governance.main import app

COMMANDS = [
    ["gov"], ["gov", "propose"], ["gov", "propose", "model"], ["gov", "propose", "retire-model"],
    ["gov", "propose", "update-model"], ["gov", "propose", "param"], ["gov", "propose", "text"],
    ["gov", "deposit"], ["gov", "vote"], ["gov", "list"], ["gov", "show"], ["gov", "tally"],
    ["gov", "params"], ["price"], ["price", "vote"], ["price", "show"], ["models"],
    ["models", "list"], ["models", "show"],
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def dead_node() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    code, out = run(*command, "--help")
    assert code == 0
    assert "race " in out and "Usage" in out


def test_an_unreachable_node_is_a_readable_json_error(tmp_path: Path) -> None:
    code, out = run("models", "list", "--node", dead_node(), "--home", str(tmp_path),
                    "--output", "json")
    assert code == 1
    assert "cannot reach" in json.loads(out)["error"]


def test_a_malformed_param_change_is_refused_before_signing(tmp_path: Path) -> None:
    code, out = run("gov", "propose", "param", "voting_period_blocks=5", "--from", "nobody",
                    "--home", str(tmp_path), "--output", "json")
    assert code == 1
    assert "MODULE.KEY=VALUE" in json.loads(out)["error"]


def test_an_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    code, out = run("price", "vote", "10nicoin", "--from", "nobody", "--home", str(tmp_path),
                    "--node", dead_node(), "--output", "json")
    assert code == 1
    assert "nobody" in json.loads(out)["error"]


def test_a_bad_vote_option_is_refused() -> None:
    code, _ = run("gov", "vote", "1", "maybe", "--from", "validator")
    assert code == 2


def test_a_bad_status_filter_is_refused(tmp_path: Path) -> None:
    code, out = run("gov", "list", "--status", "pending", "--home", str(tmp_path),
                    "--node", dead_node(), "--output", "json")
    assert code == 1 and "voting_period" in json.loads(out)["error"]
