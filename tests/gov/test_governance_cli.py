"""The `race gov`, `race price` and `race models` commands without a node: help with
examples everywhere, readable errors for bad input or an unreachable node, and proposals
built as the chain (the in-process harness) accepts them."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from abci_app.core.authority import governance_authority
from abci_app.tx.codec import pack
from governance import gov_cli
from governance.main import app
from race_protocol.gen.race.v1 import bank_pb2, gov_pb2, models_pb2, params_pb2
from tests.gov.harness import ICOIN, Chain, account

COMMANDS = [
    ["gov"], ["gov", "propose"], ["gov", "propose", "model"], ["gov", "propose", "retire-model"],
    ["gov", "propose", "update-model"], ["gov", "propose", "param"], ["gov", "propose", "text"],
    ["gov", "propose", "send"], ["gov", "deposit"], ["gov", "vote"], ["gov", "list"],
    ["gov", "show"], ["gov", "tally"], ["gov", "params"], ["gov", "account"], ["price"],
    ["price", "vote"], ["price", "show"], ["models"], ["models", "list"], ["models", "show"],
]
GOV = governance_authority()


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


def test_a_bad_community_spend_is_refused_before_signing(tmp_path: Path) -> None:
    code, out = run("gov", "propose", "send", "--to", "race1nothere", "--amount", "1icoin",
                    "--from", "nobody", "--home", str(tmp_path), "--output", "json")
    assert code == 1 and "race1nothere" in json.loads(out)["error"]
    code, out = run("gov", "propose", "send", "--to", account(1), "--amount", "0icoin",
                    "--from", "nobody", "--home", str(tmp_path), "--output", "json")
    assert code == 1 and "more than zero" in json.loads(out)["error"]


def test_the_gov_account_on_an_unreachable_node_is_a_readable_error(tmp_path: Path) -> None:
    code, out = run("gov", "account", "--home", str(tmp_path), "--node", dead_node(),
                    "--output", "json")
    assert code == 1 and "cannot reach" in json.loads(out)["error"]


# --- what `race gov propose` builds -------------------------------------------------------

MODEL = {"id": "m1", "hf_repo": "org/m1", "revision": "main", "units_of_compute_per_token": 3,
         "max_context": 128, "validation_threshold_ppm": 900_000, "owner": account(1)}
GENESIS = {"gov": {"params": {"min_deposit_nicoin": 10 * ICOIN,
                              "min_initial_deposit_nicoin": ICOIN}},
           "models": {"models": [MODEL]}}


def built_submission(monkeypatch: pytest.MonkeyPatch, proposer: str,
                     *args: str) -> gov_pb2.MsgSubmitProposal:
    """The MsgSubmitProposal `race gov propose ARGS` would sign for ``proposer``."""
    sent: dict[str, Any] = {}
    monkeypatch.setattr(gov_cli, "sign_and_send", lambda **options: sent.update(options))
    code, out = run("gov", "propose", *args, "--deposit", "10icoin", "--from", "validator")
    assert code == 0, out
    (submission,) = sent["build"](proposer, None)
    assert isinstance(submission, gov_pb2.MsgSubmitProposal)
    return submission


@pytest.mark.parametrize(("args", "expected"), [
    (["model", "--id", "m2", "--hf-repo", "org/m2", "--revision", "main", "--units", "7"],
     [models_pb2.MsgRegisterModel(
         authority=GOV, owner=account(0), id="m2",
         source=models_pb2.ModelSource(hf_repo="org/m2", revision="main"),
         units_of_compute_per_token=7, max_context=4096, validation_threshold_ppm=990_000)]),
    (["retire-model", "m1"], [models_pb2.MsgRetireModel(authority=GOV, id="m1")]),
    (["update-model", "m1", "--units", "5"],
     [models_pb2.MsgUpdateModelParams(authority=GOV, id="m1", units_of_compute_per_token=5)]),
    (["param", "gov.quorum_ppm=400000", "epochs.epoch_length_blocks=50"],
     [params_pb2.MsgUpdateParams(authority=GOV, changes=[
         params_pb2.ParamChange(module="gov", key="quorum_ppm", value="400000"),
         params_pb2.ParamChange(module="epochs", key="epoch_length_blocks", value="50")])]),
    (["send", "--to", account(100), "--amount", "2.5icoin"],
     [bank_pb2.MsgSend(from_address=GOV, to_address=account(100),
                       amount_nicoin=2 * ICOIN + ICOIN // 2)]),
    (["text", "--title", "Raise the spot-check rate"], []),
], ids=["model", "retire-model", "update-model", "param", "send", "text"])
def test_each_proposal_command_builds_messages_the_chain_accepts(
        monkeypatch: pytest.MonkeyPatch, args: list[str], expected: list[Any]) -> None:
    submission = built_submission(monkeypatch, account(0), *args)
    assert list(submission.messages) == [pack(message) for message in expected]
    assert (submission.proposer, submission.initial_deposit_nicoin) == (account(0), 10 * ICOIN)
    chain = Chain([10], GENESIS)
    funded = chain.deliver(account(100), bank_pb2.MsgSend(
        from_address=account(100), to_address=GOV, amount_nicoin=5 * ICOIN))
    assert funded.ok, funded.log
    accepted = chain.deliver(account(0), submission)
    assert accepted.ok, accepted.log
    assert accepted.attributes("proposal_voting_started")  # the deposit opened voting
