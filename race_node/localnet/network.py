"""Create, start, stop and inspect a localnet directory.

Layout of a localnet directory ``D``::

    D/localnet.json        the manifest: the spec, each validator's ports and ids, the gateway
    D/node0 .. D/node{N-1} one node home per validator (see race_node.node.home)
    D/gateway/             the gateway's log and pid file (REST + gRPC in front of node0)

Each validator's home keyring holds a funded key named ``validator``, linked to the
validator's consensus key in genesis, so ``race tx send ... --from validator --home D/node0``
works at once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from race_node.client.keyring import Keyring
from race_node.client.rpc import CometRPC, RPCError
from race_node.localnet.spec import LocalnetSpec
from race_node.node.genesis_params import check_genesis_params
from race_node.node.home import NodeConfigError, NodeHome
from race_node.node.init import (
    build_genesis,
    cometbft_init,
    configure_node,
    default_consensus_params,
    genesis_validator,
    node_id,
    operator_key,
    write_genesis,
)
from race_node.node.process import ManagedProcess
from race_node.node.runner import NodeRunner

MANIFEST_NAME = "localnet.json"
VALIDATOR_KEY_NAME = "validator"


class LocalnetError(Exception):
    """The localnet directory is missing, already used, or a node failed."""


@dataclass(frozen=True)
class NodeStatus:
    """One validator's state as seen from outside: processes, height, app hash, peers."""

    name: str
    rpc: str
    app_running: bool
    cometbft_running: bool
    height: int | None = None
    app_hash: str | None = None
    catching_up: bool | None = None
    peers: int | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.app_running and self.cometbft_running

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "running": self.running}


@dataclass(frozen=True)
class GatewayStatus:
    """The localnet's REST + gRPC gateway: configured or not, running or not, its addresses."""

    enabled: bool
    running: bool = False
    rest: str | None = None
    grpc: str | None = None
    node: str | None = None
    log: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                 timeout=0.5):
        return True
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the gateway's servers do: a port in TIME_WAIT after a restart is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Localnet:
    """A localnet directory, the validators in it and the gateway in front of node0."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._runners: dict[int, NodeRunner] = {}
        self._gateway: ManagedProcess | None = None

    # --- creation -------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    @classmethod
    def create(cls, directory: Path, spec: LocalnetSpec, overwrite: bool = False,
               extra_balances: dict[str, int] | None = None,
               config_overrides: dict[str, dict[str, Any]] | None = None) -> Localnet:
        """Write N validator homes with one genesis; refuses to touch a live localnet.

        ``extra_balances`` funds more genesis accounts (tests, benchmarks);
        ``config_overrides`` sets further config.toml values on every node.
        """
        net = cls(directory)
        # Checked before anything is written: a refused param leaves DIR as it was.
        spec = spec.with_overrides(params=check_genesis_params(spec.params))
        if net.directory.exists() and any(net.directory.iterdir()):
            if not overwrite:
                raise LocalnetError(f"{net.directory} is not empty; pass --overwrite to "
                                    "delete it and create a new localnet")
            if net.exists() and (net.gateway_status().running or any(
                    s.app_running or s.cometbft_running for s in net.status(query_rpc=False))):
                raise LocalnetError(f"the localnet in {net.directory} is running; "
                                    "stop it first (race localnet stop)")
            shutil.rmtree(net.directory)
        net.directory.mkdir(parents=True, exist_ok=True)

        homes = [NodeHome(net.directory / f"node{i}") for i in range(spec.validators)]
        validators, accounts, node_ids = [], [], []
        for index, home in enumerate(homes):
            cometbft_init(home)
            validators.append(genesis_validator(home, f"node{index}", spec.validator_power))
            accounts.append(Keyring(home.keyring_dir).add(VALIDATOR_KEY_NAME))
            node_ids.append(node_id(home))
        genesis = build_genesis(
            spec.chain_id, validators,
            {**(extra_balances or {}),
             **{a.address: spec.validator_balance_nicoin for a in accounts}},
            {operator_key(v): a.address for v, a in zip(validators, accounts, strict=True)},
            default_consensus_params(homes[0]),
            params=spec.params,
        )
        nodes = []
        for index, home in enumerate(homes):
            write_genesis(home, genesis)
            peers = ",".join(f"{node_ids[j]}@127.0.0.1:{spec.p2p_port(j)}"
                             for j in range(spec.validators) if j != index)
            try:
                app_address = home.default_app_address()
            except NodeConfigError:
                app_address = f"tcp://127.0.0.1:{spec.app_tcp_port(index)}"
            configure_node(home, moniker=f"node{index}", rpc_port=spec.rpc_port(index),
                           p2p_port=spec.p2p_port(index), app_address=app_address,
                           timings=spec.timings(), persistent_peers=peers,
                           extra=config_overrides)
            nodes.append({
                "name": f"node{index}",
                "home": str(home.root),
                "rpc": home.rpc_url(),
                "p2p_port": spec.p2p_port(index),
                "app_address": app_address,
                "node_id": node_ids[index],
                "validator_address": validators[index].cometbft_address,
                "account": accounts[index].address,
            })
        gateway = None
        if spec.gateway:
            gateway = {
                "node": nodes[0]["rpc"],
                "rest": f"http://127.0.0.1:{spec.gateway_rest_port()}",
                "grpc": f"127.0.0.1:{spec.gateway_grpc_port()}",
                "log": str(net.directory / "gateway" / "gateway.log"),
            }
        manifest = {"spec": spec.as_dict(), "chain_id": spec.chain_id, "nodes": nodes,
                    "gateway": gateway,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        net.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        return net

    # --- reading --------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            raise LocalnetError(f"no localnet in {self.directory} (missing {MANIFEST_NAME}); "
                                f"create one with `race localnet init --dir {self.directory}`")
        return json.loads(self.manifest_path.read_text())

    def spec(self) -> LocalnetSpec:
        return LocalnetSpec.from_dict(self.manifest()["spec"])

    @property
    def size(self) -> int:
        return len(self.manifest()["nodes"])

    def node(self, index: int) -> dict[str, Any]:
        nodes = self.manifest()["nodes"]
        if not 0 <= index < len(nodes):
            raise LocalnetError(f"no node {index}: this localnet has nodes 0..{len(nodes) - 1}")
        return nodes[index]

    def home(self, index: int) -> NodeHome:
        return NodeHome(Path(self.node(index)["home"]))

    def rpc(self, index: int, timeout: float = 10.0) -> CometRPC:
        return CometRPC(self.node(index)["rpc"], timeout=timeout)

    def keyring(self, index: int = 0) -> Keyring:
        return Keyring(self.home(index).keyring_dir)

    def runner(self, index: int) -> NodeRunner:
        if index not in self._runners:
            self._runners[index] = NodeRunner(self.home(index))
        return self._runners[index]

    def _indices(self, indices: list[int] | None) -> list[int]:
        if indices is None:
            return list(range(self.size))
        for index in indices:
            self.node(index)  # raises LocalnetError for an index out of range
        return list(indices)

    # --- lifecycle ------------------------------------------------------------------

    def start(self, indices: list[int] | None = None,
              app_env: dict[str, str] | None = None, ready_timeout: float = 60.0,
              gateway: bool = False) -> None:
        """Start the chosen validators (default all) in the background; skip running ones.

        With ``gateway`` the gateway starts too, once the validators are up (when this
        localnet has one). If anything fails, what this call started is stopped again.
        """
        started: list[int] = []
        gateway_was_running = self.gateway_status().running
        if gateway and self.gateway() is not None and not gateway_was_running:
            self._require_free_gateway_ports()  # before any validator starts
        try:
            for index in self._indices(indices):
                runner = self.runner(index)
                if runner.running():
                    continue
                if runner.app.running() or runner.cometbft.running():
                    runner.stop()
                runner.app.env = dict(app_env or {})
                runner.start(ready_timeout=ready_timeout)
                started.append(index)
            if gateway and self.gateway() is not None:
                self.start_gateway()
        except BaseException:
            if not gateway_was_running:
                with contextlib.suppress(Exception):
                    self.stop_gateway()
            for index in started:
                with contextlib.suppress(Exception):
                    self.runner(index).stop()
            raise

    def stop(self, indices: list[int] | None = None, timeout: float = 15.0) -> None:
        """Stop the chosen validators (default all, and then the gateway first) cleanly:
        cometbft, then its app."""
        if indices is None:
            self.stop_gateway(timeout)
        for index in self._indices(indices):
            self.runner(index).stop(timeout)

    # --- the gateway ----------------------------------------------------------------

    def gateway(self) -> dict[str, Any] | None:
        """The gateway's addresses from the manifest; None when created without one."""
        return self.manifest().get("gateway")

    def gateway_process(self) -> ManagedProcess | None:
        """``race gateway serve`` against node0's RPC, on the localnet's gateway ports."""
        info = self.gateway()
        if info is None:
            return None
        if self._gateway is None:
            rest_port = info["rest"].rsplit(":", 1)[1]
            grpc_port = info["grpc"].rsplit(":", 1)[1]
            self._gateway = ManagedProcess(
                name="gateway",
                argv=[sys.executable, "-m", "race_node.gateway", "serve", "--node", info["node"],
                      "--host", "127.0.0.1", "--rest-port", rest_port, "--grpc-port", grpc_port],
                log_path=Path(info["log"]),
                pid_path=self.directory / "gateway" / "gateway.pid",
                env={"PYTHONUNBUFFERED": "1"},
            )
        return self._gateway

    def _gateway_ports(self) -> list[int]:
        info = self.gateway() or {}
        return [int(info[key].rsplit(":", 1)[1]) for key in ("rest", "grpc")]

    def _require_free_gateway_ports(self) -> list[int]:
        ports = self._gateway_ports()
        busy = [port for port in ports if not _port_free(port)]
        if busy:
            raise LocalnetError(f"gateway port(s) {busy} on 127.0.0.1 are in use; free them "
                                "or start with --no-gateway")
        return ports

    def start_gateway(self, ready_timeout: float = 60.0) -> None:
        """Start the gateway in the background and wait until REST and gRPC both listen."""
        process = self.gateway_process()
        if process is None:
            raise LocalnetError(f"the localnet in {self.directory} has no gateway (created "
                                "with --no-gateway); run `race gateway serve --node "
                                f"{self.node(0)['rpc']}` instead")
        if process.running():
            return
        ports = self._require_free_gateway_ports()
        process.start()
        deadline = time.monotonic() + ready_timeout
        while not all(_port_accepts(port) for port in ports):
            if not process.running():
                raise LocalnetError(f"the gateway exited while starting; last lines of "
                                    f"{process.log_path}:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                process.stop()
                raise LocalnetError(f"the gateway did not listen on ports {ports} within "
                                    f"{ready_timeout:.0f}s; see {process.log_path}")
            time.sleep(0.1)

    def stop_gateway(self, timeout: float = 15.0) -> None:
        """Stop the gateway if it runs (SIGTERM, then SIGKILL after ``timeout``)."""
        process = self.gateway_process()
        if process is not None:
            process.stop(timeout)

    def gateway_status(self) -> GatewayStatus:
        info = self.gateway()
        process = self.gateway_process()
        if info is None or process is None:
            return GatewayStatus(enabled=False)
        return GatewayStatus(enabled=True, running=process.running(), rest=info["rest"],
                             grpc=info["grpc"], node=info["node"], log=info["log"])

    def kill(self, index: int) -> None:
        """SIGKILL one validator's cometbft and app, as a crash would."""
        self.runner(index).kill()

    def status(self, query_rpc: bool = True) -> list[NodeStatus]:
        statuses = []
        for index, node in enumerate(self.manifest()["nodes"]):
            runner = self.runner(index)
            app_up, comet_up = runner.app.running(), runner.cometbft.running()
            entry = NodeStatus(node["name"], node["rpc"], app_up, comet_up)
            if query_rpc and comet_up:
                try:
                    with CometRPC(node["rpc"], timeout=2.0) as rpc:
                        sync = rpc.status()["sync_info"]
                        peers = int(rpc.net_info()["n_peers"])
                    entry = NodeStatus(node["name"], node["rpc"], app_up, comet_up,
                                       height=int(sync["latest_block_height"]),
                                       app_hash=sync["latest_app_hash"],
                                       catching_up=bool(sync["catching_up"]), peers=peers)
                except RPCError as exc:
                    entry = NodeStatus(node["name"], node["rpc"], app_up, comet_up,
                                       error=str(exc))
            statuses.append(entry)
        return statuses

    def wait_for_height(self, height: int, indices: list[int] | None = None,
                        timeout: float = 60.0) -> None:
        """Block until every chosen validator has committed ``height``."""
        deadline = time.monotonic() + timeout
        for index in self._indices(indices):
            with self.rpc(index) as rpc:
                rpc.wait_for_height(height, timeout=max(0.1, deadline - time.monotonic()))
