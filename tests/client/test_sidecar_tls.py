"""The sidecar client over TLS: a sidecar on another host serves only TLS, so the agent
talks to it with the CA of its certificate, and never sends its token in cleartext to a
non-loopback address. Against a real Race-only sidecar (``--no-inference``: no model, it
starts in seconds) serving TLS with a throw-away CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from governance.main import app
from race_node.agent.config import AgentConfig, AgentConfigError
from race_node.client.sidecar import SidecarClient, SidecarConfigError, SidecarError
from tests.client.sidecar_process import SidecarProcess
from tests.sidecar.tls_files import TlsFiles, write_tls_files

pytestmark = pytest.mark.timeout(120)

TOKEN = "tls-client-test-token"
REMOTE = "10.0.0.7:50551"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_sidecar(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles
                ) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path_factory.mktemp("sidecar") / "sidecar.log",
                             ["--no-inference", "--tls-cert", str(tls.server_cert),
                              "--tls-key", str(tls.server_key)], token=TOKEN)
    process.start(timeout=90)
    try:
        yield process
    finally:
        process.stop()


async def test_the_client_talks_tls_with_the_sidecars_ca(tls_sidecar: SidecarProcess,
                                                         tls: TlsFiles) -> None:
    async with SidecarClient(tls_sidecar.address, token=TOKEN, ca_cert=tls.ca) as client:
        health = await client.health()
        info = await client.engine_info()
        async with client.another() as twin:
            twin_health = await twin.health()

    assert health.inference is None and health.race_engine is not None and health.healthy
    assert info.device and twin_health.healthy
    assert "tls=on" in repr(client) and TOKEN not in repr(client)


async def test_a_plaintext_client_does_not_reach_a_tls_sidecar(
        tls_sidecar: SidecarProcess) -> None:
    async with SidecarClient(tls_sidecar.address, token=TOKEN, timeout=3.0) as client:
        with pytest.raises(SidecarError) as refused:
            await client.health()

    assert refused.value.code is grpc.StatusCode.UNAVAILABLE


async def test_a_ca_the_sidecars_certificate_does_not_chain_to_is_refused(
        tls_sidecar: SidecarProcess, tmp_path: Path) -> None:
    stranger = write_tls_files(tmp_path / "other-ca")
    async with SidecarClient(tls_sidecar.address, token=TOKEN, ca_cert=stranger.ca,
                             timeout=3.0) as client:
        with pytest.raises(SidecarError) as refused:
            await client.health()

    assert refused.value.code is grpc.StatusCode.UNAVAILABLE


def test_a_non_loopback_address_without_a_ca_is_refused_before_connecting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dialling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the client dialled the sidecar")

    monkeypatch.setattr(grpc.aio, "insecure_channel", no_dialling)
    monkeypatch.setattr(grpc.aio, "secure_channel", no_dialling)

    with pytest.raises(SidecarConfigError, match="cleartext") as no_ca:
        SidecarClient(REMOTE, token=TOKEN)
    with pytest.raises(SidecarConfigError, match="cleartext"):
        SidecarClient("gpu1.example:50551")

    assert REMOTE in str(no_ca.value) and "--sidecar-ca" in str(no_ca.value)
    assert TOKEN not in str(no_ca.value)


def test_a_non_loopback_address_needs_a_token_as_well(tls: TlsFiles) -> None:
    with pytest.raises(SidecarConfigError, match="bearer token"):
        SidecarClient(REMOTE, ca_cert=tls.ca)
    # With both it is accepted (nothing is dialled until the first call).
    assert SidecarClient(REMOTE, token=TOKEN, ca_cert=tls.ca).ca_cert == tls.ca


def test_loopback_addresses_may_stay_plaintext() -> None:
    for address in ("127.0.0.1:50551", "localhost:50551", "[::1]:50551"):
        assert SidecarClient(address, token=TOKEN).ca_cert is None


def test_an_unreadable_or_empty_ca_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(SidecarConfigError, match="cannot read the sidecar CA"):
        SidecarClient(REMOTE, token=TOKEN, ca_cert=tmp_path / "missing.pem")
    with pytest.raises(SidecarConfigError, match="no PEM certificate"):
        SidecarClient(REMOTE, token=TOKEN, ca_cert=empty)


def test_the_agent_config_refuses_a_remote_sidecar_without_a_ca(tmp_path: Path,
                                                                tls: TlsFiles) -> None:
    with pytest.raises(AgentConfigError, match="--sidecar-ca"):
        AgentConfig(home=tmp_path, rpc_url="http://127.0.0.1:9", sidecar_address=REMOTE,
                    sidecar_token=TOKEN)
    with pytest.raises(AgentConfigError, match="--sidecar-ca needs --sidecar"):
        AgentConfig(home=tmp_path, rpc_url="http://127.0.0.1:9", sidecar_ca=tls.ca)
    config = AgentConfig(home=tmp_path, rpc_url="http://127.0.0.1:9", sidecar_address=REMOTE,
                         sidecar_token=TOKEN, sidecar_ca=tls.ca)
    assert config.sidecar_ca == tls.ca and TOKEN not in repr(config)


def test_race_agent_start_refuses_a_remote_sidecar_without_a_ca(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "agent", "start", "--home", str(tmp_path), "--node", "http://127.0.0.1:9",
        "--sidecar", REMOTE], env={"RACE_SIDECAR_TOKEN": TOKEN})
    text = " ".join((result.stdout + result.stderr).replace("│", " ").split())

    assert result.exit_code == 1 and "--sidecar-ca" in text and TOKEN not in text
