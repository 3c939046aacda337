"""The `race` CLI: help everywhere, JSON output for scripts, clear errors that change nothing."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
from race_cli import race, race_json
from typer.testing import CliRunner

from race_node.node.runner import NodeRunner

COMMANDS = [
    [], ["init"], ["start"], ["status"],
    ["keys"], ["keys", "add"], ["keys", "list"], ["keys", "show"], ["keys", "import"],
    ["keys", "export"], ["keys", "delete"],
    ["tx"], ["tx", "send"],
    ["query"], ["query", "balance"], ["query", "account"], ["query", "tx"],
    ["localnet"], ["localnet", "init"], ["localnet", "start"], ["localnet", "stop"],
    ["localnet", "status"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "race")
def test_every_command_has_help_with_an_example(cli: CliRunner, command: list[str]) -> None:
    code, out = race(cli, *command, "--help")
    assert code == 0
    assert "Usage:" in out and "race" in out
    if command:
        assert "Example" in out or "example" in out


def test_keys_are_private_files_and_json_never_shows_the_secret(tmp_path: Path,
                                                               cli: CliRunner) -> None:
    home = str(tmp_path)
    added = race_json(cli, "keys", "add", "alice", "--home", home)
    key_file = tmp_path / "keyring" / "alice.json"
    secret = json.loads(key_file.read_text())["private_key"]

    assert added["address"].startswith("race1")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    listed = race_json(cli, "keys", "list", "--home", home)
    shown = race_json(cli, "keys", "show", "alice", "--home", home)
    assert listed == [shown] and shown == added
    for out in (race(cli, "keys", "list", "--home", home)[1],
                race(cli, "keys", "show", "alice", "--home", home)[1], json.dumps(added)):
        assert secret not in out


def test_export_needs_the_explicit_flag(tmp_path: Path, cli: CliRunner) -> None:
    home = str(tmp_path)
    race_json(cli, "keys", "add", "alice", "--home", home)
    secret = json.loads((tmp_path / "keyring" / "alice.json").read_text())["private_key"]

    refused, refused_out = race(cli, "keys", "export", "alice", "--home", home)
    exported, exported_out = race(cli, "keys", "export", "alice", "--home", home,
                                  "--unsafe-export-private-key")
    assert (refused, exported) == (1, 0)
    assert secret not in refused_out and exported_out.strip() == secret


def test_import_round_trips_an_exported_key(tmp_path: Path, cli: CliRunner) -> None:
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    original = race_json(cli, "keys", "add", "alice", "--home", first)
    secret = race(cli, "keys", "export", "alice", "--home", first,
                  "--unsafe-export-private-key")[1].strip()

    imported = race_json(cli, "keys", "import", "alice", "--private-key-hex", secret,
                         "--home", second)
    assert imported["address"] == original["address"]


def test_duplicate_and_invalid_key_names_are_refused(tmp_path: Path, cli: CliRunner) -> None:
    home = str(tmp_path)
    race_json(cli, "keys", "add", "alice", "--home", home)

    code, out = race(cli, "keys", "add", "alice", "--home", home, "--output", "json")
    bad_code, bad_out = race(cli, "keys", "add", "../etc", "--home", home, "--output", "json")
    assert (code, bad_code) == (1, 1)
    assert "already exists" in json.loads(out)["error"]
    assert "invalid key name" in json.loads(bad_out)["error"]


def test_unreachable_node_is_a_clear_error(tmp_path: Path, cli: CliRunner) -> None:
    code, out = race(cli, "status", "--node", "http://127.0.0.1:9", "--home", str(tmp_path),
                     "--output", "json")
    assert code == 1
    assert "cannot reach" in json.loads(out)["error"]


def test_localnet_commands_explain_a_missing_localnet(tmp_path: Path, cli: CliRunner) -> None:
    code, out = race(cli, "localnet", "status", "--dir", str(tmp_path / "none"),
                     "--output", "json")
    assert code == 1
    assert "race localnet init" in json.loads(out)["error"]


@pytest.mark.integration
@pytest.mark.timeout(120)
class TestAgainstANode:
    """Errors a user can make against a running node; none of them may change state."""

    def _state(self, cli: CliRunner, home: str, address: str) -> tuple[str, str]:
        balance = race_json(cli, "query", "balance", address, "--home", home)["amount_nicoin"]
        sequence = race_json(cli, "query", "account", address, "--home", home)["sequence"]
        return balance, str(sequence)

    def test_status_json(self, module_node: NodeRunner, cli: CliRunner) -> None:
        status = race_json(cli, "status", "--home", str(module_node.home.root))
        assert status["chain_id"] == "race-it"
        assert status["latest_block_height"] >= 1
        assert status["voting_power"] > 0

    @pytest.mark.parametrize("args, message", [
        (["race1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "1icoin", "--from", "validator"],
         "not a valid race address"),
        (["not-an-address", "1icoin", "--from", "validator"], "neither a race1"),
        (["RECIPIENT", "1.5foo", "--from", "validator"], "bad amount"),
        (["RECIPIENT", "1.2.3icoin", "--from", "validator"], "bad amount"),
        (["RECIPIENT", "0icoin", "--from", "validator"], "more than zero"),
        (["RECIPIENT", "1icoin", "--from", "nobody"], "no key named 'nobody'"),
        (["RECIPIENT", "1icoin", "--from", "validator", "--fee", "lots"], "bad fee"),
    ])
    def test_bad_send_is_refused_and_changes_nothing(self, module_node: NodeRunner,
                                                     cli: CliRunner,
                                                     args: list[str], message: str) -> None:
        home = str(module_node.home.root)
        sender = race_json(cli, "keys", "show", "validator", "--home", home)["address"]
        recipient = race_json(cli, "keys", "add", f"bob-{uuid.uuid4().hex[:8]}", "--home",
                              home)["address"]
        before = self._state(cli, home, sender)

        args = [recipient if a == "RECIPIENT" else a for a in args]
        code, out = race(cli, "tx", "send", *args, "--home", home, "--output", "json")
        assert code == 1
        assert message in json.loads(out)["error"]
        assert self._state(cli, home, sender) == before

    def test_overspending_is_rejected_by_the_chain_with_its_code(self, module_node: NodeRunner,
                                                                 cli: CliRunner) -> None:
        home = str(module_node.home.root)
        sender = race_json(cli, "keys", "show", "validator", "--home", home)["address"]
        recipient = race_json(cli, "keys", "add", "carol", "--home", home)["address"]
        before = self._state(cli, home, sender)

        code, out = race(cli, "tx", "send", recipient, "999999999icoin", "--from", "validator",
                         "--home", home, "--output", "json")
        rejected = json.loads(out)
        assert code == 1
        assert rejected["check_code"] != 0 and rejected["error"]
        assert self._state(cli, home, sender) == before

    def test_unknown_tx_hash_is_a_clear_error(self, module_node: NodeRunner,
                                              cli: CliRunner) -> None:
        home = str(module_node.home.root)
        code, out = race(cli, "query", "tx", "AB" * 32, "--home", home, "--output", "json")
        bad, bad_out = race(cli, "query", "tx", "xyz", "--home", home, "--output", "json")
        assert (code, bad) == (1, 1)
        assert "no committed tx" in json.loads(out)["error"]
        assert "hex" in json.loads(bad_out)["error"]
