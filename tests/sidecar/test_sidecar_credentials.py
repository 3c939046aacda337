"""`race sidecar serve` never serves a non-loopback port that is plaintext or that lets
clients in unauthenticated, and a front never sends its engine's token in cleartext to a
non-loopback upstream. Each refusal is one clear line, before anything is bound."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from gpu_sidecar.server import SidecarSecurity, SidecarSecurityError
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc
from tests.sidecar.tls_files import TlsFiles, write_tls_files

REPO = Path(__file__).resolve().parents[2]
RACE = Path(sys.executable).with_name("race")
TOKEN = "sidecar-secret-token"
# A refused start returns at once; one that is not refused serves until killed.
REFUSAL_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_tls_files(tmp_path_factory.mktemp("tls"))


def race_sidecar_serve(*args: str, env: dict[str, str] | None = None
                       ) -> subprocess.CompletedProcess[str]:
    """`race sidecar serve ARGS` as a provider types it; fails the test if it serves."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RACE_SIDECAR_TOKEN", "RACE_INFERENCE_UPSTREAM_TOKEN")}
    try:
        return subprocess.run([str(RACE), "sidecar", "serve", *args], cwd=REPO,
                              env={**environment, **(env or {})}, capture_output=True,
                              text=True, timeout=REFUSAL_TIMEOUT_S)
    except subprocess.TimeoutExpired as served:
        pytest.fail(f"`race sidecar serve {' '.join(args)}` was not refused: it started "
                    f"serving\n{served.stderr!r}")


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The refused command's error, on one line."""
    assert result.returncode != 0, result.stderr
    return " ".join(result.stderr.replace("│", " ").split())


def test_a_client_ca_without_a_certificate_is_refused_off_loopback(tls: TlsFiles) -> None:
    port = free_port()
    result = race_sidecar_serve("--no-inference", "--address", f"0.0.0.0:{port}",
                                "--tls-client-ca", str(tls.ca))
    assert "--tls-client-ca needs --tls-cert and --tls-key" in refusal(result)
    assert not listening(port)


def test_a_client_ca_without_a_certificate_is_refused_on_loopback_too(tls: TlsFiles) -> None:
    result = race_sidecar_serve("--no-inference", "--address", f"127.0.0.1:{free_port()}",
                                "--tls-client-ca", str(tls.ca))
    assert "--tls-client-ca needs --tls-cert and --tls-key" in refusal(result)


def test_a_bearer_token_without_tls_is_refused_off_loopback() -> None:
    port = free_port()
    result = race_sidecar_serve("--no-inference", "--address", f"0.0.0.0:{port}",
                                env={"RACE_SIDECAR_TOKEN": TOKEN})
    error = refusal(result)
    assert "would travel in cleartext" in error and "--tls-cert and --tls-key" in error
    assert TOKEN not in result.stdout + result.stderr
    assert not listening(port)


def test_tls_without_client_authentication_is_refused_off_loopback(tls: TlsFiles) -> None:
    result = race_sidecar_serve("--no-inference", "--address", f"0.0.0.0:{free_port()}",
                                "--tls-cert", str(tls.server_cert),
                                "--tls-key", str(tls.server_key))
    assert "nothing authenticates clients" in refusal(result)


def test_a_certificate_without_its_key_is_refused(tls: TlsFiles) -> None:
    result = race_sidecar_serve("--no-inference", "--address", f"127.0.0.1:{free_port()}",
                                "--tls-cert", str(tls.server_cert))
    assert "--tls-cert and --tls-key go together" in refusal(result)


def test_an_upstream_token_is_never_sent_in_cleartext_off_loopback() -> None:
    result = race_sidecar_serve("--no-race", "--address", f"127.0.0.1:{free_port()}",
                                "--inference-upstream", "10.0.0.7:50551",
                                env={"RACE_INFERENCE_UPSTREAM_TOKEN": TOKEN})
    error = refusal(result)
    assert "its token would travel in cleartext" in error
    assert "--inference-upstream-ca" in error
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("security", [
    SidecarSecurity(token=TOKEN, tls_cert=Path("s.pem"), tls_key=Path("s.key")),
    SidecarSecurity(tls_cert=Path("s.pem"), tls_key=Path("s.key"), tls_client_ca=Path("c.pem")),
], ids=["tls+token", "mutual-tls"])
def test_tls_with_client_authentication_may_serve_off_loopback(
        security: SidecarSecurity) -> None:
    security.check("0.0.0.0:50551")
    security.check("[2001:db8::1]:50551")


@pytest.mark.parametrize("address", ["127.0.0.1:1", "127.0.0.2:1", "localhost:1", "[::1]:1"])
def test_loopback_needs_no_credentials(address: str) -> None:
    SidecarSecurity().check(address)


@pytest.mark.parametrize("address", ["0.0.0.0:1", "10.0.0.7:1", "sidecar.example:1", "[::]:1"])
def test_anything_else_is_not_loopback(address: str) -> None:
    with pytest.raises(SidecarSecurityError, match="is not loopback"):
        SidecarSecurity().check(address)


def test_mutual_tls_serves_clients_with_a_certificate_and_refuses_others(
        tls: TlsFiles, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "sidecar.log"
    with log_path.open("wb") as log:
        sidecar = subprocess.Popen(
            [str(RACE), "sidecar", "serve", "--no-inference", "--address", f"127.0.0.1:{port}",
             "--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key),
             "--tls-client-ca", str(tls.ca)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "serving on" not in log_path.read_text(errors="replace"):
            assert sidecar.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        with_certificate = grpc.ssl_channel_credentials(
            root_certificates=tls.ca.read_bytes(), private_key=tls.client_key.read_bytes(),
            certificate_chain=tls.client_cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", with_certificate) as channel:
            info = pb_grpc.RaceEngineStub(channel).GetRaceEngineInfo(
                pb.GetRaceEngineInfoRequest(), timeout=30)
        without_certificate = grpc.ssl_channel_credentials(root_certificates=tls.ca.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", without_certificate) as channel, \
                pytest.raises(grpc.RpcError) as refused:
            pb_grpc.RaceEngineStub(channel).GetRaceEngineInfo(pb.GetRaceEngineInfoRequest(),
                                                              timeout=10)
    finally:
        sidecar.terminate()
        sidecar.wait(30)
    assert info.device
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
