"""Create, start, stop and inspect a localnet directory.

Layout of a localnet directory ``D``::

    D/localnet.json        the manifest: the spec, each validator's ports and ids, its
                           sidecar and agent, the shared engine, the gateway
    D/node0 .. D/node{N-1} one node home per validator (see race_node.node.home)
    D/engine/              the shared inference engine's token, log and pid file
    D/gateway/             the gateway's log and pid file (REST + gRPC in front of node0)
    D/full0 ..             full nodes added to the running chain (``add_node``), each a
                           cometbft + app pair that is not a validator

Each validator's home keyring holds a funded key named ``validator``, linked to the
validator's consensus key in genesis, so ``race tx send ... --from validator --home D/node0``
works at once.

Every node is a provider unless the localnet was created without (``providers=False``):
it runs cometbft, its app, its sidecar and its agent (see ``providers``). Start order:
the shared engine (it takes longest), each validator (app, then cometbft), the sidecars,
the agents, the gateway; then ``start`` waits until every provider is healthy. Stop order
is the reverse of use: gateway, agents, sidecars, engine, validators.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from race_node.client.keyring import Keyring
from race_node.client.rpc import CometRPC, RPCError
from race_node.client.sidecar import SidecarClient
from race_node.localnet import inference
from race_node.localnet.providers import (
    SIDECAR_TOKEN_ENV,
    UPSTREAM_TOKEN_ENV,
    AgentProbe,
    AgentStatus,
    ProcessGroup,
    ProviderConfigError,
    SidecarStatus,
    probe_agent,
    probe_sidecars,
    read_token,
    write_token,
)
from race_node.localnet.race_params import localnet_race_params
from race_node.localnet.spec import PORTS_PER_NODE, LocalnetSpec
from race_node.node.genesis_params import check_genesis_params, merge_params
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
from race_node.node.process import ManagedProcess, stop_together
from race_node.node.runner import NodeRunner, Supervised

MANIFEST_NAME = "localnet.json"
VALIDATOR_KEY_NAME = "validator"
PROVIDER_READY_TIMEOUT_S = 600.0
ENGINE_DRAIN_TIMEOUT_S = "10"
# Four Race engines share the machine's cores; one thread each keeps them out of each
# other's way (and out of the inference engine's).
LEAN_TORCH_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


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
    agent: AgentStatus | None = None
    sidecar: SidecarStatus | None = None

    @property
    def running(self) -> bool:
        return self.app_running and self.cometbft_running

    @property
    def provider_healthy(self) -> bool:
        """Its agent and its sidecar are both healthy (False on a chain-only node)."""
        return (self.agent is not None and self.agent.healthy
                and self.sidecar is not None and self.sidecar.healthy)

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


@dataclass(frozen=True)
class EngineStatus:
    """The inference engine the providers share (``mode`` "shared"), or why there is none:
    "dedicated" (each sidecar runs its own) or None (no providers)."""

    mode: str | None
    address: str | None = None
    running: bool = False
    healthy: bool = False
    models: list[str] | None = None
    log: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                 timeout=0.5):
        return True
    return False


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


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
        self._engine: ManagedProcess | None = None
        self._sidecars: dict[int, ManagedProcess] = {}
        self._agents: dict[int, ManagedProcess] = {}
        self._full_runners: dict[int, NodeRunner] = {}

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
        # Checked before anything is written: a refused param or a missing model leaves
        # DIR as it was.
        spec = spec.with_overrides(params=check_genesis_params(spec.params))
        # A short Race cycle for the sidecars' work function, unless the spec says otherwise.
        genesis_params = check_genesis_params(
            merge_params(localnet_race_params(spec.race_config), spec.params))
        model_option = (spec.model_option()
                        if spec.providers and spec.inference_engine != "none" else None)
        if net.directory.exists() and any(net.directory.iterdir()):
            if not overwrite:
                raise LocalnetError(f"{net.directory} is not empty; pass --overwrite to "
                                    "delete it and create a new localnet")
            if net.exists() and net.any_running():
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
             **inference.developer_balance(spec, homes[0].keyring_dir),
             **{a.address: spec.validator_balance_nicoin for a in accounts}},
            {operator_key(v): a.address for v, a in zip(validators, accounts, strict=True)},
            default_consensus_params(homes[0]),
            params=genesis_params,
            sections=inference.genesis_sections(
                spec, inference.relay_public_key(homes[0].keyring_dir), accounts[0].address),
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
            node = {
                "name": f"node{index}",
                "home": str(home.root),
                "rpc": home.rpc_url(),
                "p2p_port": spec.p2p_port(index),
                "app_address": app_address,
                "node_id": node_ids[index],
                "validator_address": validators[index].cometbft_address,
                "account": accounts[index].address,
            }
            if spec.providers:
                write_token(home.sidecar_token_file)
                node["sidecar"] = {"address": f"127.0.0.1:{spec.sidecar_port(index)}",
                                   "token_file": str(home.sidecar_token_file),
                                   "log": str(home.logs_dir / "sidecar.log")}
                node["agent"] = {
                    "status_address": f"127.0.0.1:{spec.agent_status_port(index)}",
                    "status": f"http://127.0.0.1:{spec.agent_status_port(index)}/status",
                    "log": str(home.logs_dir / "agent.log")}
                node["executor"] = {"address": inference.executor_address(spec, index)}
            nodes.append(node)
        gateway = None
        if spec.gateway:
            gateway = {
                "node": nodes[0]["rpc"],
                "rest": f"http://127.0.0.1:{spec.gateway_rest_port()}",
                "grpc": f"127.0.0.1:{spec.gateway_grpc_port()}",
                "log": str(net.directory / "gateway" / "gateway.log"),
            }
            if spec.providers:
                gateway.update(inference.gateway_inference(spec, gateway["rest"],
                                                           homes[0].root))
        providers = engine = None
        if spec.providers:
            providers = {"inference_engine": spec.inference_engine,
                         "model": spec.model_path().name, "model_option": model_option,
                         "race_config": spec.race_config}
        if spec.providers and spec.inference_engine == "shared":
            engine_dir = net.directory / "engine"
            write_token(engine_dir / "token")
            engine = {"address": f"127.0.0.1:{spec.engine_port()}",
                      "token_file": str(engine_dir / "token"),
                      "log": str(engine_dir / "engine.log")}
        manifest = {"spec": spec.as_dict(), "chain_id": spec.chain_id, "nodes": nodes,
                    "gateway": gateway, "providers": providers, "engine": engine,
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
            self._runners[index] = NodeRunner(self.home(index),
                                               app_command=self._validator_app_command())
        return self._runners[index]

    def _validator_app_command(self) -> list[str]:
        """The app's command; validators take state-sync snapshots when the spec asks."""
        command = [sys.executable, "-m", "abci_app.abci"]
        spec = self.spec()
        if spec.snapshot_interval:
            command += ["--snapshot-interval", str(spec.snapshot_interval),
                        "--snapshot-keep", str(spec.snapshot_keep)]
        return command

    def _indices(self, indices: list[int] | None) -> list[int]:
        if indices is None:
            return list(range(self.size))
        for index in indices:
            self.node(index)  # raises LocalnetError for an index out of range
        return list(indices)

    # --- lifecycle ------------------------------------------------------------------

    def start(self, indices: list[int] | None = None,
              app_env: dict[str, str] | None = None, ready_timeout: float = 60.0,
              gateway: bool = False, providers: bool = False,
              provider_timeout: float = PROVIDER_READY_TIMEOUT_S,
              on_progress: Callable[[str], None] | None = None) -> None:
        """Start the chosen validators (default all) in the background; skip running ones.

        With ``gateway`` the gateway starts too, once the validators are up (when this
        localnet has one). With ``providers`` each chosen node's sidecar and agent start
        too (the shared engine first, when it is not running), and this returns only once
        every chosen provider is healthy; ``on_progress`` hears how far they are. If
        anything fails, what this call started is stopped again.
        """
        chosen = self._indices(indices)
        with_providers = providers and self.providers() is not None
        gateway_was_running = self.gateway_status().running
        if gateway and self.gateway() is not None and not gateway_was_running:
            self._require_free_gateway_ports()  # before any validator starts
        if with_providers:
            self._require_free_provider_ports(chosen)
        started: list[int] = []
        started_processes: list[ManagedProcess] = []
        try:
            if with_providers:
                engine = self.engine_process()
                if engine is not None and not engine.running():
                    engine.env = self._engine_env()
                    engine.start()
                    started_processes.append(engine)
            for index in chosen:
                runner = self.runner(index)
                if runner.running():
                    continue
                if runner.app.running() or runner.cometbft.running():
                    runner.stop()
                runner.app.env = dict(app_env or {})
                runner.start(ready_timeout=ready_timeout)
                started.append(index)
            if with_providers:
                for index in chosen:
                    for process, env in (
                            (self.sidecar_process(index), self.sidecar_environment(index)),
                            (self.agent_process(index), OFFLINE_ENV)):
                        if not process.running():
                            process.env = env  # tokens travel in the environment only
                            process.start()
                            started_processes.append(process)
            if gateway and self.gateway() is not None:
                self.start_gateway()
            if with_providers:
                self.wait_for_providers(chosen, provider_timeout, on_progress)
        except BaseException:
            if not gateway_was_running:
                with contextlib.suppress(Exception):
                    self.stop_gateway()
            for process in reversed(started_processes):
                with contextlib.suppress(Exception):
                    process.stop()
            for index in started:
                with contextlib.suppress(Exception):
                    self.runner(index).stop()
            raise

    def stop(self, indices: list[int] | None = None, timeout: float = 15.0) -> None:
        """Stop the chosen nodes (default all, then also the gateway and the shared engine)
        cleanly, in the reverse order of use: the gateway, the agents, the sidecars, the
        engine, then each validator (cometbft, then its app)."""
        chosen = self._indices(indices)
        if indices is None:
            self.stop_full_nodes(timeout)
            self.stop_gateway(timeout)
        if self.providers() is not None:
            stop_together([self.agent_process(i) for i in chosen], timeout)
            stop_together([self.sidecar_process(i) for i in chosen], timeout)
            engine = self.engine_process()
            if indices is None and engine is not None:
                engine.stop(timeout)
        for index in chosen:
            self.runner(index).stop(timeout)

    def any_running(self) -> bool:
        """Whether any process of this localnet runs (validators, providers, gateway)."""
        processes: list[ManagedProcess | None] = [self.gateway_process()]
        if self.providers() is not None:
            processes.append(self.engine_process())
            for index in range(self.size):
                processes += [self.sidecar_process(index), self.agent_process(index)]
        for index in range(self.size):
            processes += [self.runner(index).app, self.runner(index).cometbft]
        return any(process is not None and process.running() for process in processes)

    def supervised(self, indices: list[int] | None = None) -> list[Supervised]:
        """What a foreground localnet watches, in the order it stops them (see ``stop``);
        the shared engine only when every node is chosen."""
        chosen = self._indices(indices)
        watched: list[Supervised] = []
        if self.providers() is not None:
            watched.append(ProcessGroup([self.agent_process(i) for i in chosen]))
            watched.append(ProcessGroup([self.sidecar_process(i) for i in chosen]))
            engine = self.engine_process()
            if indices is None and engine is not None:
                watched.append(ProcessGroup([engine]))
        watched += [self.runner(i) for i in chosen]
        return watched

    # --- providers: each node's sidecar and agent, and the shared engine ---------------

    def providers(self) -> dict[str, Any] | None:
        """Model, Race config and engine mode of the providers; None on a chain-only
        localnet (created with --no-providers, or before localnets had providers)."""
        return self.manifest().get("providers")

    def engine(self) -> dict[str, Any] | None:
        """The shared engine's address, token file and log; None when there is none."""
        return self.manifest().get("engine")

    def engine_process(self) -> ManagedProcess | None:
        """``race sidecar serve --no-race`` with the providers' model, on base_port + 7."""
        info, providers = self.engine(), self.providers()
        if info is None or providers is None:
            return None
        if self._engine is None:
            log = Path(info["log"])
            self._engine = ManagedProcess(
                name="engine",
                argv=[sys.executable, "-m", "gpu_sidecar.cli", "serve", "--no-race",
                      "--address", info["address"], "--token-env", SIDECAR_TOKEN_ENV,
                      "--model", providers["model_option"],
                      "--drain-timeout", ENGINE_DRAIN_TIMEOUT_S],
                log_path=log, pid_path=log.with_name("engine.pid"))
        return self._engine

    def sidecar_process(self, index: int) -> ManagedProcess:
        """Node ``index``'s own sidecar: its port, its token, its Race engine; inference
        from the shared engine, or from a vLLM of its own ("dedicated")."""
        if index not in self._sidecars:
            node, providers = self.node(index), self.providers()
            if providers is None or "sidecar" not in node:
                raise LocalnetError(f"the localnet in {self.directory} has no providers "
                                    "(created with --no-providers)")
            engine = self.engine()
            inference = (["--inference-upstream", engine["address"],
                          "--inference-upstream-token-env", UPSTREAM_TOKEN_ENV]
                         if engine is not None else ["--model", providers["model_option"]])
            if providers["inference_engine"] == "none":
                inference = ["--no-inference"]
            home = self.home(index)
            self._sidecars[index] = ManagedProcess(
                name="sidecar",
                argv=[sys.executable, "-m", "gpu_sidecar.cli", "serve",
                      "--address", node["sidecar"]["address"], "--token-env", SIDECAR_TOKEN_ENV,
                      *inference, "--race-config", providers["race_config"]],
                log_path=Path(node["sidecar"]["log"]),
                pid_path=home.run_dir / "sidecar.pid")
        return self._sidecars[index]

    def agent_process(self, index: int) -> ManagedProcess:
        """Node ``index``'s agent (``race agent start``): its node's RPC, its sidecar with
        the node's token, its status endpoint, the validator key."""
        if index not in self._agents:
            node = self.node(index)
            if "agent" not in node:
                raise LocalnetError(f"the localnet in {self.directory} has no providers "
                                    "(created with --no-providers)")
            home = self.home(index)
            self._agents[index] = ManagedProcess(
                name="agent",
                argv=[sys.executable, "-m", "governance.main", "agent", "start",
                      "--home", str(home.root), "--node", node["rpc"],
                      "--sidecar", node["sidecar"]["address"],
                      "--sidecar-token-file", node["sidecar"]["token_file"],
                      "--status-address", node["agent"]["status_address"],
                      "--key", VALIDATOR_KEY_NAME, *inference.agent_arguments(node)],
                log_path=Path(node["agent"]["log"]),
                pid_path=home.run_dir / "agent.pid")
        return self._agents[index]

    def sidecar_client(self, index: int) -> SidecarClient:
        """A client of node ``index``'s own sidecar, holding that node's token."""
        node = self.node(index)
        if "sidecar" not in node:
            raise LocalnetError(f"the localnet in {self.directory} has no providers "
                                "(created with --no-providers)")
        return SidecarClient(node["sidecar"]["address"], self._token(node["sidecar"]["token_file"]))

    def _token(self, path: str) -> str:
        try:
            return read_token(Path(path))
        except ProviderConfigError as exc:
            raise LocalnetError(str(exc)) from exc

    def _engine_env(self) -> dict[str, str]:
        info = self.engine()
        assert info is not None
        return {**OFFLINE_ENV, SIDECAR_TOKEN_ENV: self._token(info["token_file"])}

    def sidecar_environment(self, index: int) -> dict[str, str]:
        """Node ``index``'s sidecar's environment: its own token, the engine's if shared."""
        env = {**OFFLINE_ENV, **LEAN_TORCH_ENV,
               SIDECAR_TOKEN_ENV: self._token(self.node(index)["sidecar"]["token_file"])}
        engine = self.engine()
        if engine is not None:
            env[UPSTREAM_TOKEN_ENV] = self._token(engine["token_file"])
        return env

    def _provider_ports(self, indices: list[int]) -> list[tuple[str, int]]:
        """(what, port) of each chosen provider's processes that are not running yet."""
        ports = []
        engine, engine_process = self.engine(), self.engine_process()
        if engine is not None and engine_process is not None and not engine_process.running():
            ports.append(("the shared engine", _port_of(engine["address"])))
        for index in indices:
            node = self.node(index)
            if not self.sidecar_process(index).running():
                ports.append((f"node{index}'s sidecar", _port_of(node["sidecar"]["address"])))
            if not self.agent_process(index).running():
                ports.append((f"node{index}'s agent",
                              _port_of(node["agent"]["status_address"])))
        return ports

    def _require_free_provider_ports(self, indices: list[int]) -> None:
        busy = [f"{port} ({what})" for what, port in self._provider_ports(indices)
                if not _port_free(port)]
        if busy:
            raise LocalnetError(f"provider port(s) on 127.0.0.1 are in use: {', '.join(busy)}; "
                                "free them or start with --no-providers")

    def _exited_provider(self, indices: list[int]) -> ManagedProcess | None:
        engine = self.engine_process()
        candidates = [engine] if engine is not None else []
        for index in indices:
            candidates += [self.sidecar_process(index), self.agent_process(index)]
        return next((p for p in candidates if not p.running()), None)

    def wait_for_providers(self, indices: list[int] | None = None,
                           timeout: float = PROVIDER_READY_TIMEOUT_S,
                           on_progress: Callable[[str], None] | None = None) -> None:
        """Block until every chosen node's sidecar and agent are healthy.

        A provider process that exits meanwhile is an error at once, with its log tail.
        """
        chosen = self._indices(indices)
        deadline = time.monotonic() + timeout
        waiting: list[str] = []
        while True:
            exited = self._exited_provider(chosen)
            if exited is not None:
                hint = ("; start with --no-providers to run the chain alone"
                        if exited.name == "agent" else "")
                raise LocalnetError(f"the {exited.name} at {exited.log_path.parent.parent} "
                                    f"exited while starting{hint}; last lines of "
                                    f"{exited.log_path}:\n{exited.log_tail()}")
            statuses = self.provider_statuses(chosen)
            waiting = [f"node{i} {what}" for i, (agent, sidecar) in zip(chosen, statuses,
                                                                          strict=True)
                       for what, ready in (("sidecar", sidecar.healthy),
                                           ("agent", agent.healthy)) if not ready]
            if not waiting:
                return
            if on_progress is not None:
                sidecars = sum(sidecar.healthy for _, sidecar in statuses)
                agents = sum(agent.healthy for agent, _ in statuses)
                on_progress(f"providers: {sidecars}/{len(chosen)} sidecars and "
                            f"{agents}/{len(chosen)} agents healthy")
            if time.monotonic() > deadline:
                details = "; ".join(
                    f"node{i}: sidecar {sidecar.error or 'not healthy'}, "
                    f"agent {agent.error or 'not healthy'}"
                    for i, (agent, sidecar) in zip(chosen, statuses, strict=True)
                    if not (agent.healthy and sidecar.healthy))
                raise LocalnetError(f"providers not healthy after {timeout:.0f}s ({details}); "
                                    f"see the logs in {self.directory}/node*/logs")
            time.sleep(1.0)

    def provider_statuses(self, indices: list[int]) -> list[tuple[AgentStatus, SidecarStatus]]:
        """Each chosen node's agent and sidecar, probed through their own endpoints."""
        nodes = [self.node(i) for i in indices]
        sidecar_running = [self.sidecar_process(i).running() for i in indices]
        targets = [(node["sidecar"]["address"], self._token(node["sidecar"]["token_file"]))
                   for node, running in zip(nodes, sidecar_running, strict=True) if running]
        probes = iter(probe_sidecars(targets))
        statuses = []
        for index, node, running in zip(indices, nodes, sidecar_running, strict=True):
            sidecar = SidecarStatus.of(node["sidecar"]["address"], running,
                                       next(probes) if running else None)
            agent_running = self.agent_process(index).running()
            agent_probe: AgentProbe | None = (probe_agent(node["agent"]["status"])
                                              if agent_running else None)
            statuses.append((AgentStatus.of(agent_running, node["agent"]["status"],
                                            agent_probe), sidecar))
        return statuses

    def engine_status(self, query: bool = True) -> EngineStatus:
        providers, info, process = self.providers(), self.engine(), self.engine_process()
        if providers is None:
            return EngineStatus(mode=None)
        if info is None or process is None:
            return EngineStatus(mode=providers["inference_engine"])
        running = process.running()
        probe = None
        if query and running:
            probe = probe_sidecars([(info["address"], self._token(info["token_file"]))])[0]
        return EngineStatus(mode="shared", address=info["address"], running=running,
                            healthy=probe is not None and probe.healthy,
                            models=probe.models if probe else None, log=info["log"],
                            error=probe.error if probe else None)

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
                argv=[sys.executable, "-m", "governance.main", "gateway", "serve",
                      "--node", info["node"], "--host", "127.0.0.1",
                      "--rest-port", rest_port, "--grpc-port", grpc_port,
                      *inference.gateway_arguments(info)],
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

    def status(self, query_rpc: bool = True,
               query_providers: bool = True) -> list[NodeStatus]:
        """Each validator: its processes, and with ``query_rpc`` its height, app hash and
        peers, and (``query_providers``) its agent and sidecar as they report themselves."""
        nodes = self.manifest()["nodes"]
        providers: list[tuple[AgentStatus, SidecarStatus]] | None = None
        if self.providers() is not None:
            indices = list(range(len(nodes)))
            probe = query_rpc and query_providers
            providers = (self.provider_statuses(indices) if probe else [
                (AgentStatus(running=self.agent_process(i).running(),
                             status=nodes[i]["agent"]["status"]),
                 SidecarStatus(address=nodes[i]["sidecar"]["address"],
                               running=self.sidecar_process(i).running()))
                for i in indices])
        statuses = []
        for index, node in enumerate(nodes):
            runner = self.runner(index)
            app_up, comet_up = runner.app.running(), runner.cometbft.running()
            entry = NodeStatus(node["name"], node["rpc"], app_up, comet_up)
            if query_rpc and comet_up:
                try:
                    with CometRPC(node["rpc"], timeout=2.0) as rpc:
                        sync = rpc.status()["sync_info"]
                        peers = int(rpc.net_info()["n_peers"])
                    entry = replace(entry, height=int(sync["latest_block_height"]),
                                    app_hash=sync["latest_app_hash"],
                                    catching_up=bool(sync["catching_up"]), peers=peers)
                except RPCError as exc:
                    entry = replace(entry, error=str(exc))
            if providers is not None:
                entry = replace(entry, agent=providers[index][0], sidecar=providers[index][1])
            statuses.append(entry)
        return statuses

    def wait_for_height(self, height: int, indices: list[int] | None = None,
                        timeout: float = 60.0) -> None:
        """Block until every chosen validator has committed ``height``."""
        deadline = time.monotonic() + timeout
        for index in self._indices(indices):
            with self.rpc(index) as rpc:
                rpc.wait_for_height(height, timeout=max(0.1, deadline - time.monotonic()))

    # --- full nodes: joining the running chain ------------------------------------------

    def full_nodes(self) -> list[dict[str, Any]]:
        """The full nodes added with :meth:`add_node`, in the order they were added."""
        return list(self.manifest().get("full_nodes", []))

    def full_node(self, index: int) -> dict[str, Any]:
        nodes = self.full_nodes()
        if not 0 <= index < len(nodes):
            raise LocalnetError(f"no full node {index}: this localnet has {len(nodes)}")
        return nodes[index]

    def full_node_runner(self, index: int) -> NodeRunner:
        """Full node ``index``'s app + cometbft pair (its app takes no snapshots)."""
        if index not in self._full_runners:
            home = NodeHome(Path(self.full_node(index)["home"]))
            self._full_runners[index] = NodeRunner(home)
        return self._full_runners[index]

    def full_node_rpc(self, index: int, timeout: float = 10.0) -> CometRPC:
        return CometRPC(self.full_node(index)["rpc"], timeout=timeout)

    def add_node(self, state_sync: bool = True, trust_from: int = 0,
                 ready_timeout: float = 60.0) -> int:
        """Add a full node (not a validator) to the running chain and start it; its index.

        Its home is ``D/full<index>`` with the validators' genesis, every validator as a
        persistent peer, and ports after the validators' (``spec.p2p_port(validators +
        index)``, ...). With ``state_sync`` it restores the newest snapshot the validators
        serve (they take one every ``spec.snapshot_interval`` heights) instead of
        replaying every block: its light client trusts validator ``trust_from``'s latest
        header (height and hash read from its RPC) and checks what it fetches against two
        validators' RPCs. It then follows the chain by block sync and consensus.
        """
        manifest = self.manifest()
        spec = self.spec()
        if state_sync and spec.snapshot_interval <= 0:
            raise LocalnetError("the validators take no snapshots: create the localnet with "
                                "snapshot_interval > 0 (localnet.toml or LocalnetSpec) to "
                                "join by state sync")
        index = len(manifest.get("full_nodes", []))
        slot = spec.validators + index
        if spec.base_port + PORTS_PER_NODE * (slot + 1) > 65535:
            raise LocalnetError(f"no ports left above {spec.base_port} for full node {index}")
        home = NodeHome(self.directory / f"full{index}")
        if home.root.exists():
            shutil.rmtree(home.root)
        cometbft_init(home)
        write_genesis(home, json.loads(self.home(0).genesis.read_text()))
        nodes = manifest["nodes"]
        peers = ",".join(f"{n['node_id']}@127.0.0.1:{n['p2p_port']}" for n in nodes)
        try:
            app_address = home.default_app_address()
        except NodeConfigError:
            app_address = f"tcp://127.0.0.1:{spec.app_tcp_port(slot)}"
        extra: dict[str, dict[str, Any]] = {}
        if state_sync:
            with self.rpc(trust_from) as rpc:
                trust_height = rpc.latest_height()
                trust_hash = rpc.block(trust_height)["block_id"]["hash"]
            extra["statesync"] = {
                "enable": True,
                "rpc_servers": ",".join(nodes[i % len(nodes)]["rpc"]
                                        for i in (trust_from, trust_from + 1)),
                "trust_height": trust_height, "trust_hash": trust_hash,
                "trust_period": "168h0m0s", "discovery_time": "5s",
            }
        configure_node(home, moniker=f"full{index}", rpc_port=spec.rpc_port(slot),
                       p2p_port=spec.p2p_port(slot), app_address=app_address,
                       timings=spec.timings(), persistent_peers=peers, extra=extra)
        entry = {"name": f"full{index}", "home": str(home.root), "rpc": home.rpc_url(),
                 "p2p_port": spec.p2p_port(slot), "app_address": app_address,
                 "node_id": node_id(home), "state_sync": state_sync}
        manifest["full_nodes"] = [*manifest.get("full_nodes", []), entry]
        self.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        self.full_node_runner(index).start(ready_timeout=ready_timeout)
        return index

    def stop_full_nodes(self, timeout: float = 15.0) -> None:
        """Stop every full node (cometbft, then its app)."""
        for index in range(len(self.full_nodes())):
            self.full_node_runner(index).stop(timeout)
