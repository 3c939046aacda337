"""A node's home directory: where CometBFT, the app, the keyring, logs and pid files live.

Layout (CometBFT's own files keep their usual places, so ``cometbft --home`` works on it)::

    HOME/config/config.toml, genesis.json, node_key.json, priv_validator_key.json
    HOME/data/                 CometBFT's block store and state
    HOME/app/                  the ABCI application's state (see abci_app.abci)
    HOME/keyring/<name>.json   account keys, mode 0600
    HOME/sidecar/token         the bearer token this node's sidecar requires, mode 0600
    HOME/logs/app.log, cometbft.log (and sidecar.log, agent.log on a provider)
    HOME/run/app.pid, cometbft.pid (and sidecar.pid, agent.pid)
    HOME/app.sock              the ABCI socket (unix transport, the default)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from race_node.node.cometbft_config import read_config

DEFAULT_HOME = Path(os.environ.get("RACE_HOME", str(Path.home() / ".race")))
# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107
REPO_ROOT = Path(__file__).resolve().parents[2]


class NodeConfigError(Exception):
    """The home directory is missing, incomplete, or its settings cannot work."""


def find_cometbft() -> Path:
    """The CometBFT binary: $RACE_COMETBFT, the checkout's .tools/bin, then $PATH."""
    explicit = os.environ.get("RACE_COMETBFT")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(REPO_ROOT / ".tools" / "bin" / "cometbft")
    on_path = shutil.which("cometbft")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise NodeConfigError(
        "cannot find the cometbft binary: run `make setup` (it builds .tools/bin/cometbft) "
        "or set RACE_COMETBFT to its path"
    )


@dataclass(frozen=True)
class NodeHome:
    """Paths inside one node's home directory."""

    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def config_toml(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def genesis(self) -> Path:
        return self.config_dir / "genesis.json"

    @property
    def node_key(self) -> Path:
        return self.config_dir / "node_key.json"

    @property
    def priv_validator_key(self) -> Path:
        return self.config_dir / "priv_validator_key.json"

    @property
    def keyring_dir(self) -> Path:
        return self.root / "keyring"

    @property
    def sidecar_dir(self) -> Path:
        return self.root / "sidecar"

    @property
    def sidecar_token_file(self) -> Path:
        return self.sidecar_dir / "token"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def app_socket(self) -> Path:
        return self.root / "app.sock"

    def default_app_address(self) -> str:
        """``unix://HOME/app.sock``, or an error when the path is too long for a socket."""
        path = str(self.app_socket.resolve())
        if len(path.encode()) > MAX_UNIX_SOCKET_PATH:
            raise NodeConfigError(
                f"the ABCI socket path {path} is longer than {MAX_UNIX_SOCKET_PATH} bytes; "
                "use a shorter --home or --app-address tcp://127.0.0.1:PORT"
            )
        return f"unix://{path}"

    def is_initialized(self) -> bool:
        return self.config_toml.is_file() and self.genesis.is_file()

    def require_initialized(self) -> None:
        if not self.is_initialized():
            raise NodeConfigError(
                f"{self.root} is not a node home (no config/config.toml and genesis.json); "
                f"run `race init --home {self.root}` first"
            )

    def cometbft_config(self) -> dict:
        self.require_initialized()
        return read_config(self.config_toml)

    def app_address(self) -> str:
        """Where the app listens: CometBFT's ``proxy_app`` setting is the one source of truth."""
        return str(self.cometbft_config()["proxy_app"])

    def rpc_url(self) -> str:
        """The node's RPC address as an http:// URL (0.0.0.0 is dialled on loopback)."""
        laddr = str(self.cometbft_config()["rpc"]["laddr"])
        hostport = laddr.split("://", 1)[-1]
        host, _, port = hostport.rpartition(":")
        if host in ("0.0.0.0", "", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def chain_id(self) -> str:
        return str(json.loads(self.genesis.read_text())["chain_id"])


def python_executable() -> str:
    return sys.executable
