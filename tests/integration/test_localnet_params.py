"""Genesis module params for a new chain (`race localnet init` / `race init`): the
``[params.<module>]`` tables of localnet.toml and ``--param MODULE.KEY=VALUE``, typed by
each module's params, checked by the chain's own genesis import, and refused before
anything is written. Also: the localnet manifest's gateway addresses and the `race
gateway` group, and each provider's ports, token and command lines. These tests create
homes (``cometbft init``) but start no process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from race_cli import race
from typer.testing import CliRunner

from race_node.localnet import Localnet, LocalnetSpec
from race_node.localnet.spec import LocalnetSpecError
from race_node.node.genesis_params import (
    GenesisParamsError,
    check_genesis_params,
    merge_params,
    parse_param_assignments,
)

REPO = Path(__file__).resolve().parents[2]


def genesis_params(home: Path) -> dict[str, dict]:
    app_state = json.loads((home / "config" / "genesis.json").read_text())["app_state"]
    return {module: section["params"] for module, section in app_state.items()
            if "params" in section}


def test_assignments_are_typed_by_the_module_params() -> None:
    parsed = parse_param_assignments([
        "epochs.epoch_length_blocks=20", "gov.min_deposit_nicoin=150icoin",
        "bank.send_enabled=false", "gov.voting_period_blocks=1_000",
        "epochs.epoch_length_blocks=25",  # the later one wins
    ])
    assert parsed == {"bank": {"send_enabled": False},
                      "epochs": {"epoch_length_blocks": 25},
                      "gov": {"min_deposit_nicoin": 150 * 10**9, "voting_period_blocks": 1000}}
    assert merge_params({"gov": {"voting_period_blocks": 40, "max_deposit_period_blocks": 60}},
                        {"gov": {"voting_period_blocks": 30}}) == {
        "gov": {"max_deposit_period_blocks": 60, "voting_period_blocks": 30}}


@pytest.mark.parametrize(("assignment", "message"), [
    ("gov", "write MODULE.KEY=VALUE"),
    ("gov.voting_period_blocks=", "write MODULE.KEY=VALUE"),
    ("nosuch.key=1", "no module 'nosuch'"),
    ("staking.power=1", "module 'staking' has no params"),
    ("gov.voting_period=10", "gov' has no param 'voting_period'"),
    ("gov.voting_period_blocks=ten", "gov.voting_period_blocks must be an integer"),
    ("bank.send_enabled=maybe", "bank.send_enabled must be true or false"),
    ("gov.min_deposit_nicoin=lots", "must be an integer of nicoin or an amount"),
    ("gov.voting_period_blocks=0", "voting_period_blocks must be between 1"),
    ("gov.min_deposit_nicoin=1icoin", "min_initial_deposit_nicoin must be between 0 and"),
])
def test_bad_params_are_refused_with_a_clear_error(assignment: str, message: str) -> None:
    with pytest.raises(GenesisParamsError, match=message):
        check_genesis_params(parse_param_assignments([assignment]))


def test_toml_values_keep_their_types_and_are_checked() -> None:
    assert check_genesis_params({"gov": {"voting_period_blocks": 30}}) == {
        "gov": {"voting_period_blocks": 30}}
    with pytest.raises(GenesisParamsError, match="must be an integer"):
        check_genesis_params({"gov": {"voting_period_blocks": True}})
    with pytest.raises(GenesisParamsError, match="must be a table"):
        check_genesis_params({"gov": 3})


def test_the_default_localnet_toml_has_short_demo_periods() -> None:
    spec = LocalnetSpec.from_toml(REPO / "localnet" / "localnet.toml")
    params = check_genesis_params(spec.params)
    assert params["epochs"]["epoch_length_blocks"] <= 50
    assert params["gov"]["voting_period_blocks"] <= 100
    assert params["gov"]["max_deposit_period_blocks"] <= 100
    assert spec.gateway is True
    assert (spec.providers, spec.inference_engine, spec.race_config) == (True, "shared", "small")


def test_toml_layout_errors(tmp_path: Path) -> None:
    stray = tmp_path / "stray.toml"
    stray.write_text("[localnet]\nvalidators = 1\n[parms.gov]\nvoting_period_blocks = 3\n")
    with pytest.raises(LocalnetSpecError, match="unknown tables parms"):
        LocalnetSpec.from_toml(stray)
    inline = tmp_path / "inline.toml"
    inline.write_text("[localnet]\nparams = {gov = {voting_period_blocks = 3}}\n")
    with pytest.raises(LocalnetSpecError, match=r"\[params.<module>\] tables"):
        LocalnetSpec.from_toml(inline)


def test_localnet_init_writes_the_params_into_every_genesis(tmp_path: Path) -> None:
    config = tmp_path / "net.toml"
    config.write_text("[localnet]\nvalidators = 2\nbase_port = 41000\n"
                      "[params.epochs]\nepoch_length_blocks = 20\n"
                      "[params.gov]\nvoting_period_blocks = 40\nmax_deposit_period_blocks = 60\n")
    code, out = race(CliRunner(), "localnet", "init", "--config", str(config),
                     "--dir", str(tmp_path / "net"), "--param", "gov.voting_period_blocks=30",
                     "--no-providers", "--output", "json")
    assert code == 0, out
    expected = {"epochs": {"epoch_length_blocks": 20},
                "gov": {"max_deposit_period_blocks": 60, "voting_period_blocks": 30}}
    manifest = json.loads(out)
    assert manifest["spec"]["params"] == expected
    for node in manifest["nodes"]:
        written = genesis_params(Path(node["home"]))
        assert {m: written[m] for m in expected} == expected
    assert manifest["gateway"] == {
        "node": "http://127.0.0.1:41001", "rest": "http://127.0.0.1:41003",
        "grpc": "127.0.0.1:41004", "log": str(tmp_path / "net" / "gateway" / "gateway.log")}
    gateway = Localnet(tmp_path / "net").gateway_status()
    assert (gateway.enabled, gateway.running) == (True, False)


def test_a_refused_param_writes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--param", "gov.voting_period_blocks=0", "--no-providers",
                     "--output", "json")
    assert code == 1 and "voting_period_blocks must be between 1" in json.loads(out)["error"]
    assert not directory.exists()

    # An existing localnet is kept as it was, even with --overwrite.
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--no-gateway", "--no-providers", "--output", "json")
    assert code == 0, out
    before = (directory / "localnet.json").read_text()
    assert json.loads(before)["gateway"] is None
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--overwrite", "--no-providers", "--param", "epochs.nope=1")
    assert code == 1
    assert (directory / "localnet.json").read_text() == before
    assert Localnet(directory).gateway_status().enabled is False


def test_race_init_takes_params(tmp_path: Path) -> None:
    home = tmp_path / "node"
    code, out = race(CliRunner(), "init", "--home", str(home), "--param",
                     "epochs.epoch_length_blocks=7", "--param", "gov.quorum_ppm=400000",
                     "--output", "json")
    assert code == 0, out
    assert json.loads(out)["params"] == {"epochs": {"epoch_length_blocks": 7},
                                         "gov": {"quorum_ppm": 400000}}
    written = genesis_params(home)
    assert written["epochs"] == {"epoch_length_blocks": 7}
    assert written["gov"] == {"quorum_ppm": 400000}

    refused = tmp_path / "refused"
    code, _ = race(CliRunner(), "init", "--home", str(refused), "--param", "gov.quorum_ppm=x")
    assert code == 1 and not refused.exists()


def test_the_gateway_group_is_mounted() -> None:
    code, out = race(CliRunner(), "gateway", "serve", "--help")
    assert code == 0 and "--rest-port" in out and "--grpc-port" in out


def test_a_busy_gateway_port_is_refused_before_any_validator_starts(tmp_path: Path) -> None:
    import socket

    from race_cli import free_port_block

    base = free_port_block(10)
    directory = tmp_path / "net"
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--base-port", str(base), "--no-providers",
                     "--output", "json")
    assert code == 0, out
    net = Localnet(directory)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        code, out = race(CliRunner(), "localnet", "start", "--dir", str(directory),
                         "--output", "json")
    assert code == 1 and f"[{base + 3}]" in json.loads(out)["error"]
    assert not any(s.app_running or s.cometbft_running for s in net.status(query_rpc=False))
    assert not net.gateway_status().running


def test_every_node_is_a_provider_with_its_own_ports_and_token(tmp_path: Path) -> None:
    code, out = race(CliRunner(), "localnet", "init", "--validators", "2", "--dir",
                     str(tmp_path / "net"), "--base-port", "42000", "--output", "json")
    assert code == 0, out
    manifest = json.loads(out)
    assert [(n["sidecar"]["address"], n["agent"]["status"]) for n in manifest["nodes"]] == [
        ("127.0.0.1:42005", "http://127.0.0.1:42006/status"),
        ("127.0.0.1:42015", "http://127.0.0.1:42016/status")]
    assert manifest["engine"]["address"] == "127.0.0.1:42007"
    assert manifest["providers"]["model"] == "SmolLM2-135M-Instruct"
    assert manifest["providers"]["race_config"] == "small"

    token_files = [Path(n["sidecar"]["token_file"]) for n in manifest["nodes"]]
    token_files.append(Path(manifest["engine"]["token_file"]))
    assert token_files[0] == tmp_path / "net" / "node0" / "sidecar" / "token"
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in token_files)
    tokens = [path.read_text().strip() for path in token_files]
    assert len(set(tokens)) == 3 and all(len(token) >= 32 for token in tokens)


def test_tokens_reach_sidecars_through_the_environment_only(tmp_path: Path) -> None:
    net = Localnet.create(tmp_path / "net", LocalnetSpec(validators=2, base_port=42100))
    node0_token = (net.home(0).sidecar_token_file).read_text().strip()
    engine_token = Path(net.engine()["token_file"]).read_text().strip()
    sidecar = net.sidecar_process(0)
    agent = net.agent_process(0)
    engine = net.engine_process()
    assert engine is not None

    assert sidecar.argv[3:] == [
        "serve", "--address", "127.0.0.1:42105", "--token-env", "RACE_SIDECAR_TOKEN",
        "--inference-upstream", "127.0.0.1:42107",
        "--inference-upstream-token-env", "RACE_INFERENCE_UPSTREAM_TOKEN",
        "--race-config", "small"]
    assert agent.argv[3:] == [
        "agent", "start", "--home", str(net.home(0).root), "--node", "http://127.0.0.1:42101",
        "--sidecar", "127.0.0.1:42105",
        "--sidecar-token-file", str(net.home(0).sidecar_token_file),
        "--status-address", "127.0.0.1:42106", "--key", "validator",
        "--executor-address", "127.0.0.1:42108", "--settle-every", "2"]
    command_lines = " ".join([*sidecar.argv, *agent.argv, *engine.argv])
    assert node0_token not in command_lines and engine_token not in command_lines
    environment = net.sidecar_environment(0)
    assert environment["RACE_SIDECAR_TOKEN"] == node0_token
    assert environment["RACE_INFERENCE_UPSTREAM_TOKEN"] == engine_token


def test_a_dedicated_engine_puts_a_vllm_in_every_sidecar(tmp_path: Path) -> None:
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(tmp_path / "net"), "--inference-engine", "dedicated", "--output", "json")
    assert code == 0, out
    assert json.loads(out)["engine"] is None
    net = Localnet(tmp_path / "net")
    argv = net.sidecar_process(0).argv
    assert "--inference-upstream" not in argv
    assert argv[argv.index("--model") + 1].startswith("SmolLM2-135M-Instruct=")
    assert net.engine_process() is None


def test_a_missing_model_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--model", "no-such-model", "--output", "json")
    assert code == 1 and "run `make setup`" in json.loads(out)["error"]
    assert not directory.exists()


@pytest.mark.parametrize(("setting", "message"), [
    ({"inference_engine": "both"}, "inference_engine must be one of shared, dedicated"),
    ({"race_config": "huge"}, "race_config must be one of paper, small"),
    ({"model": "two words"}, "without spaces or commas"),
])
def test_provider_settings_are_checked(setting: dict, message: str) -> None:
    with pytest.raises(LocalnetSpecError, match=message):
        LocalnetSpec(**setting)


def test_a_busy_provider_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    import socket

    from race_cli import free_port_block

    base = free_port_block(10)
    directory = tmp_path / "net"
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(directory), "--base-port", str(base), "--output", "json")
    assert code == 0, out
    net = Localnet(directory)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 5))
        squatter.listen()
        code, out = race(CliRunner(), "localnet", "start", "--dir", str(directory),
                         "--output", "json")
    assert code == 1 and f"{base + 5} (node0's sidecar)" in json.loads(out)["error"]
    assert not net.any_running()


def test_a_chain_only_localnet_has_no_providers(tmp_path: Path) -> None:
    code, out = race(CliRunner(), "localnet", "init", "--validators", "1", "--dir",
                     str(tmp_path / "net"), "--no-providers", "--output", "json")
    assert code == 0, out
    manifest = json.loads(out)
    assert manifest["providers"] is None and manifest["engine"] is None
    assert "sidecar" not in manifest["nodes"][0]
    assert not (tmp_path / "net" / "node0" / "sidecar").exists()
    code, out = race(CliRunner(), "localnet", "complete", "hi", "--dir", str(tmp_path / "net"),
                     "--output", "json")
    assert code == 1 and "no providers" in json.loads(out)["error"]

