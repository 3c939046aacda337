"""Create, start, stop and inspect a localnet directory.

Layout of a localnet directory ``D``::

    D/localnet.json        the manifest: the spec and each validator's ports and ids
    D/node0 .. D/node{N-1} one node home per validator (see abci_app.node.home)

Each validator's home keyring holds a funded key named ``validator``, linked to the
validator's consensus key in genesis, so ``race tx send ... --from validator --home D/node0``
works at once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abci_app.keyring import Keyring
from abci_app.localnet.spec import LocalnetSpec
from abci_app.node.home import NodeConfigError, NodeHome
from abci_app.node.init import (
    build_genesis,
    cometbft_init,
    configure_node,
    default_consensus_params,
    genesis_validator,
    node_id,
    operator_key,
    write_genesis,
)
from abci_app.node.runner import NodeRunner
from abci_app.rpc import CometRPC, RPCError

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


class Localnet:
    """A localnet directory and the validators in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._runners: dict[int, NodeRunner] = {}

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
        if net.directory.exists() and any(net.directory.iterdir()):
            if not overwrite:
                raise LocalnetError(f"{net.directory} is not empty; pass --overwrite to "
                                    "delete it and create a new localnet")
            if net.exists() and any(s.app_running or s.cometbft_running
                                    for s in net.status(query_rpc=False)):
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
        manifest = {"spec": spec.as_dict(), "chain_id": spec.chain_id, "nodes": nodes,
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
              app_env: dict[str, str] | None = None, ready_timeout: float = 60.0) -> None:
        """Start the chosen validators (default all) in the background; skip running ones."""
        started: list[int] = []
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
        except BaseException:
            for index in started:
                with contextlib.suppress(Exception):
                    self.runner(index).stop()
            raise

    def stop(self, indices: list[int] | None = None, timeout: float = 15.0) -> None:
        """Stop the chosen validators (default all) cleanly: cometbft, then its app."""
        for index in self._indices(indices):
            self.runner(index).stop(timeout)

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
