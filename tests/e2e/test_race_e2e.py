"""The Race on a localnet (docs/race.md): four providers (each validator with its own
sidecar and agent, the small work function on the CPU) race cycle after cycle with nobody
driving them, and their accepted counts, capped, are their validator power, in the
chain's state and in CometBFT's. A fifth provider joins through ``race provider
register``, races, and becomes a validator. Four cheaters (tests/faults/cheating_agent.py:
fabricated leaves, reused nonces, another seed, openings off their root) race on their
own sidecars and are each caught. A validator killed with -9 mid-race gets weight 0 for
that cycle, and weight again once it is back. Honest nodes are never refused.

One bring-up for the module, of sidecars that only race (no inference engine to wait
for): the cheaters and the fifth provider start with it, so the tests watch cycles they
share.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from localnet_ports import free_port_block
from typer.testing import CliRunner

import abci_app.tx as txlib
from governance.main import app
from race_node.client.keyring import Keyring
from race_node.client.queries import ChainQueries, QueryFailed, to_json
from race_node.client.rpc import CometRPC, RPCError
from race_node.localnet import Localnet, LocalnetSpec
from race_node.localnet.join import JoinedProvider, join_provider
from race_node.localnet.providers import SIDECAR_TOKEN_ENV, read_token, write_token
from race_node.node.process import ManagedProcess
from race_protocol.gen.race.v1 import query_pb2
from race_protocol.race.power import capped_powers
from tests.client.live_node import REPO_ROOT, free_port
from tests.faults.cheating_agent import MODES

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow,
              pytest.mark.timeout(1500)]

VALIDATORS = 4
KILLED = 2
FUNDS = "1000icoin"
CLOSED = "RACE_CYCLE_STATUS_CLOSED"
RACING = "RACE_CYCLE_STATUS_RACING"
DECIDED = "RACE_CYCLE_OUTCOME_DECIDED"
ACCEPTED = "RACE_ENTRY_STATUS_ACCEPTED"
CAUGHT = "RACE_ENTRY_STATUS_CAUGHT"
# What the chain records for each cheat: validators refuse the first two's samples; the
# others' openings never verify under their roots, so their samples stay unopened.
CAUGHT_FOR = {"inflate": "does not recompute", "other-seed": "does not recompute",
              "reuse": "opened 0 of", "bad-opening": "opened 0 of"}
LEAN_ENV = {"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def race(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (QueryFailed, RPCError):
            value = None
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Cheater:
    """A provider whose agent cheats in ``mode``: its home (keyring), sidecar and agent."""

    mode: str
    home: Path
    operator: str
    sidecar: ManagedProcess
    agent: ManagedProcess


@dataclass
class RaceLocalnet:
    net: Localnet
    cheaters: list[Cheater] = field(default_factory=list)
    joined: JoinedProvider | None = None
    killed_in: int = 0

    def query(self, method: str, request: Any = None, node: int = 0) -> dict[str, Any]:
        with self.net.rpc(node, timeout=5) as rpc:
            return to_json(ChainQueries(rpc).call(method, request))

    def cycle(self, number: int = 0) -> dict[str, Any]:
        return self.query("RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=number))["cycle"]

    def results(self, number: int) -> dict[str, dict[str, Any]]:
        answer = self.query("RaceResults", query_pb2.QueryRaceResultsRequest(cycle=number))
        return {entry["operator"]: entry for entry in answer["entries"]}

    def closed_cycles(self) -> list[int]:
        current = int(self.cycle()["cycle"])
        return [n for n in range(1, current) if self.cycle(n)["status"] == CLOSED]

    def wait_for_closed(self, after: int, test: Callable[[int], bool], timeout: float,
                        what: str) -> int:
        """The first closed cycle after ``after`` that passes ``test``."""
        return wait_for(lambda: next((n for n in self.closed_cycles()
                                      if n > after and test(n)), None), timeout, what)

    def operator(self, index: int) -> str:
        return self.net.keyring(index).show("validator").address

    def honest(self) -> list[str]:
        found = [self.operator(i) for i in range(VALIDATORS)]
        return found + ([self.joined.operator] if self.joined is not None else [])

    def powers(self) -> tuple[dict[str, int], dict[str, int], int]:
        """Power by operator and by base64 consensus key, and the committed height."""
        with self.net.rpc(0, timeout=5) as rpc:
            answer, height = ChainQueries(rpc).call_at("Validators")
        validators = to_json(answer)["validators"]
        by_operator = {v["operator"]: int(v["power"]) for v in validators}
        by_key = {base64.b64encode(bytes.fromhex(v["pub_key"])).decode(): int(v["power"])
                  for v in validators}
        return by_operator, by_key, height

    def rpcs(self) -> list[CometRPC]:
        urls = [self.net.node(i)["rpc"] for i in range(VALIDATORS)]
        if self.joined is not None:
            urls.append(self.joined.rpc)
        return [CometRPC(url, timeout=5) for url in urls]


def start_cheater(net: Localnet, mode: str, root: Path) -> Cheater:
    """A home with a key, a Race-only sidecar, and the cheating agent on node0's RPC."""
    home = root / mode
    operator = Keyring(home / "keyring").add("cheater").address
    token_file = home / "sidecar" / "token"
    write_token(token_file)
    address = f"127.0.0.1:{free_port()}"
    sidecar = ManagedProcess(
        name="sidecar", argv=[sys.executable, "-m", "gpu_sidecar.cli", "serve",
                              "--no-inference", "--address", address, "--token-env",
                              SIDECAR_TOKEN_ENV, "--race-config", "small"],
        log_path=home / "sidecar.log", pid_path=home / "sidecar.pid",
        env={**LEAN_ENV, SIDECAR_TOKEN_ENV: read_token(token_file)}, cwd=REPO_ROOT)
    agent = ManagedProcess(
        name="agent", argv=[sys.executable, "-m", "tests.faults.cheating_agent", "--cheat",
                            mode, "--home", str(home), "--node", net.node(0)["rpc"],
                            "--key", "cheater", "--sidecar", address,
                            "--sidecar-token-file", str(token_file), "--heartbeat-every", "0",
                            "--status-address", f"127.0.0.1:{free_port()}"],
        log_path=home / "agent.log", pid_path=home / "agent.pid", env=LEAN_ENV,
        cwd=REPO_ROOT)
    return Cheater(mode, home, operator, sidecar, agent)


@pytest.fixture(scope="module")
def race_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaceLocalnet]:
    """Four providers racing, four registered cheaters, and a fifth provider registered:
    all of them race from the next cycle."""
    root = tmp_path_factory.mktemp("race")
    # The sidecars only race: no inference engine to start (the Race needs none).
    spec = LocalnetSpec(validators=VALIDATORS, base_port=free_port_block(VALIDATORS + 1),
                        gateway=False, inference_engine="none")
    net = Localnet.create(root / "net", spec)
    network = RaceLocalnet(net)
    node0 = str(net.home(0).root)
    try:
        net.start(providers=True)
        network.cheaters = [start_cheater(net, mode, root / "cheaters") for mode in MODES]
        for cheater in network.cheaters:
            race("tx", "send", cheater.operator, FUNDS, "--from", "validator", "--home", node0)
            race("provider", "register", "--home", str(cheater.home), "--node",
                 net.node(0)["rpc"], "--from", "cheater", "--consensus-key",
                 txlib.public_key_bytes(txlib.generate_private_key()).hex(),
                 "--sidecar-identity", f"sha256:cheater-{cheater.mode}")
            cheater.sidecar.start()
            cheater.agent.start()
        network.joined = joined = join_provider(net)
        race("tx", "send", joined.operator, FUNDS, "--from", "validator", "--home", node0)
        registered = race("provider", "register", "--home", str(joined.home.root), "--node",
                          net.node(0)["rpc"], "--from", "validator")
        assert int(registered["first_cycle"]) >= 1
        yield network
    finally:
        for cheater in network.cheaters:
            cheater.agent.stop(timeout=10)
            cheater.sidecar.stop(timeout=10)
        if network.joined is not None:
            network.joined.stop(timeout=10)
        net.stop(timeout=20)


def test_cycles_run_unattended_and_power_is_each_accepted_count_within_the_cap(
        race_net: RaceLocalnet) -> None:
    decided = race_net.wait_for_closed(
        1, lambda n: race_net.cycle(n)["outcome"] == DECIDED, 420, "a second decided cycle")
    results = race_net.results(decided)
    accepted = {op: int(e["count"]) for op, e in results.items() if e["status"] == ACCEPTED}
    cap = int(race_net.query("RaceParams")["params"]["max_power_share_ppm"])
    expected = capped_powers(accepted, cap)
    assert {op: int(e["new_power"]) for op, e in results.items()
            if e["status"] == ACCEPTED} == expected
    by_operator, by_key, height = race_net.powers()
    current = race_net.cycle()
    if int(current["cycle"]) == decided + 1 and current["status"] != CLOSED:
        assert by_operator == expected
    # CometBFT applies the updates of block h at h + 2: its set then is the chain's at h,
    # unless a boundary falls in between.
    boundary = int(current["validation_end_height"])
    if not height < boundary <= height + 2:
        with race_net.net.rpc(0) as rpc:
            rpc.wait_for_height(height + 2, timeout=30)
            comet = {v["pub_key"]["value"]: int(v["voting_power"])
                     for v in rpc.validators(height + 2)}
        assert comet == by_key
    # Every node, the joined one included, computes the same app hash.
    rpcs = race_net.rpcs()
    try:
        common = min(rpc.latest_height() for rpc in rpcs) - 1
        assert len({rpc.block(common)["block"]["header"]["app_hash"] for rpc in rpcs}) == 1
    finally:
        for rpc in rpcs:
            rpc.close()


def raced_in(race_net: RaceLocalnet, operator: str) -> Callable[[int], bool]:
    def committed(number: int) -> bool:
        return operator in race_net.results(number)

    return committed


def test_each_cheater_is_refused_and_recorded_as_caught(race_net: RaceLocalnet) -> None:
    for cheater in race_net.cheaters:
        number = race_net.wait_for_closed(
            0, raced_in(race_net, cheater.operator), 420,
            f"a closed cycle the {cheater.mode} cheater raced in")
        entry = race_net.results(number)[cheater.operator]
        assert entry["status"] == CAUGHT, (cheater.mode, entry)
        assert CAUGHT_FOR[cheater.mode] in entry["reason"], (cheater.mode, entry["reason"])
        assert entry["new_power"] == "0"
        provider = race_net.query("RaceProvider", query_pb2.QueryRaceProviderRequest(
            operator=cheater.operator))
        assert int(provider["record"]["caught"]) >= 1
        assert provider["provider"]["power"] == "0"


def test_a_fifth_provider_joins_races_and_becomes_a_validator(
        race_net: RaceLocalnet) -> None:
    joined = race_net.joined
    assert joined is not None
    number = race_net.wait_for_closed(
        0, lambda n: race_net.results(n).get(joined.operator, {}).get("status") == ACCEPTED,
        420, "a cycle in which the fifth provider is accepted")
    power = int(race_net.results(number)[joined.operator]["new_power"])
    key = race_net.query("RaceProvider", query_pb2.QueryRaceProviderRequest(
        operator=joined.operator))["provider"]["consensus_pub_key"]
    key_b64 = base64.b64encode(bytes.fromhex(key)).decode()

    def in_comet() -> int | None:
        with race_net.net.rpc(0) as rpc:
            found = {v["pub_key"]["value"]: int(v["voting_power"]) for v in rpc.validators()}
        return found.get(key_b64)

    assert power > 0 and wait_for(in_comet, 60, "the fifth provider in /validators")


def test_a_validator_killed_mid_race_drops_to_zero_and_comes_back(
        race_net: RaceLocalnet) -> None:
    net, victim = race_net.net, race_net.operator(KILLED)

    def early_in_a_race() -> int | None:
        cycle = race_net.cycle()
        with net.rpc(0) as rpc:
            height = rpc.latest_height()
        left = int(cycle["race_end_height"]) - height
        return int(cycle["cycle"]) if cycle["status"] == RACING and left >= 8 else None

    killed_in = race_net.killed_in = wait_for(early_in_a_race, 240, "a race window to open")
    net.kill(KILLED)
    net.agent_process(KILLED).kill()
    with net.rpc(0) as rpc:
        before = rpc.latest_height()
    race_net.wait_for_closed(killed_in - 1, lambda n: n == killed_in, 240,
                             f"cycle {killed_in} to close without node {KILLED}")
    with net.rpc(0) as rpc:
        assert rpc.latest_height() > before + 10  # the chain kept going
    entry = race_net.results(killed_in).get(victim)
    assert entry is None or entry["status"] != ACCEPTED
    if race_net.cycle(killed_in)["outcome"] == DECIDED:
        assert victim not in race_net.powers()[0]

    net.start([KILLED], providers=True)
    back = race_net.wait_for_closed(
        killed_in, lambda n: race_net.results(n).get(victim, {}).get("status") == ACCEPTED,
        420, f"node {KILLED} to be accepted again")
    assert int(race_net.results(back)[victim]["new_power"]) > 0


def test_honest_nodes_are_never_refused(race_net: RaceLocalnet) -> None:
    honest = set(race_net.honest())
    cycles = race_net.closed_cycles()
    assert len(cycles) >= 4
    for number in cycles:
        for operator, entry in race_net.results(number).items():
            if operator in honest:
                assert entry["status"] == ACCEPTED, (number, operator, entry)
