"""Chaos on the chain (DESIGN.md §9: nothing lost, a crashed node restarts into the same
state). Four validators on loopback, chain only; a steady load of signed transfers goes
through every node's RPC while, every few seconds, one process (an app or a cometbft, of
any node) is killed with SIGKILL and restarted. Afterwards:

- every node runs and has caught up;
- every node reports the same app hash at the same height;
- no confirmed tx is lost and none is applied twice: on every node, each load account's
  sequence is the number of its txs the load generator saw confirmed, its balance is its
  genesis balance less exactly those transfers and fees, and the sink holds exactly them.

Each load account signs one tx per sequence, always with the same bytes (ed25519 signs
deterministically), and re-broadcasts those bytes until the chain's sequence passes it,
so a tx can be sent many times and still land at most once.

The default suite runs ``CHAOS_SECONDS`` (35) of chaos; `make chaos` runs the long version
(``CHAOS_SECONDS=200``). The last line printed is a JSON report; its ``seed`` replays the
same choice of kills with ``CHAOS_SEED``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from localnet_ports import free_port_block

from abci_app.modules.auth.errors import WRONG_SEQUENCE
from abci_app.tx import build_signed_tx
from abci_app.tx.keys import address_from_public_key, public_key_bytes
from race_node.client.broadcast import Signer, broadcast_signed
from race_node.client.queries import ChainQueries, QueryFailed
from race_node.client.rpc import RPCError
from race_node.localnet import Localnet, LocalnetSpec
from race_node.node.process import ManagedProcess
from race_protocol.gen.race.v1 import bank_pb2

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "35"))
VALIDATORS = 4
LOAD_ACCOUNTS = 8
LOAD_BALANCE_NICOIN = 10**15
SINK_BALANCE_NICOIN = 10**9
AMOUNT_NICOIN = 1
# A kill every few seconds; the killed process stays down a moment before its restart.
KILL_EVERY_S = (3.0, 6.0)
DOWN_FOR_S = (0.5, 2.0)
# How long one broadcast waits for its tx before sending the same bytes again.
CONFIRM_WAIT_S = 5.0
# After the chaos, how long a load account may take to settle its last tx.
DRAIN_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 60.0

pytestmark = [pytest.mark.e2e, pytest.mark.integration,
              pytest.mark.timeout(CHAOS_SECONDS + 600)]


def new_signer(name: str) -> Signer:
    key = Ed25519PrivateKey.generate()
    return Signer(name, address_from_public_key(public_key_bytes(key)), key)


@dataclass
class LoadAccount:
    """One signer of the load and what it saw: its confirmed txs, refusals, anomalies."""

    signer: Signer
    confirmed: int = 0
    broadcasts: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    settled: bool = False


class LoadWorker(threading.Thread):
    """Sends one account's transfers to the sink, one sequence at a time, through random
    nodes, until told to stop; then settles its last tx."""

    def __init__(self, net: Localnet, account: LoadAccount, sink: str, chain_id: str,
                 fee_nicoin: int, stop: threading.Event, seed: int) -> None:
        super().__init__(name=f"load-{account.signer.name}", daemon=True)
        self.account = account
        self.sink = sink
        self.chain_id = chain_id
        self.fee_nicoin = fee_nicoin
        self.stop = stop
        self.rng = random.Random(seed)
        self.rpcs = [net.rpc(index, timeout=3.0) for index in range(net.size)]

    def _tx(self, sequence: int) -> bytes:
        signer = self.account.signer
        send = bank_pb2.MsgSend(from_address=signer.address, to_address=self.sink,
                                amount_nicoin=AMOUNT_NICOIN)
        return build_signed_tx(signer.private_key, self.chain_id, sequence, self.fee_nicoin,
                               [send])

    def _committed_sequence(self) -> int | None:
        """The account's sequence on a random node, None when that node does not answer."""
        try:
            account = ChainQueries(self.rng.choice(self.rpcs)).account(
                self.account.signer.address)
        except QueryFailed:
            return None
        return None if account is None else int(account.sequence)

    def _wait_for(self, sequence: int) -> bool:
        """Whether the chain's sequence passed ``sequence`` within CONFIRM_WAIT_S."""
        deadline = time.monotonic() + CONFIRM_WAIT_S
        while time.monotonic() < deadline:
            committed = self._committed_sequence()
            if committed is not None and committed > sequence:
                if committed != sequence + 1:
                    self.account.anomalies.append(
                        f"sequence {committed} after sequence {sequence}'s only tx")
                return True
            time.sleep(0.2)
        return False

    def run(self) -> None:
        sequence = 0
        tx = self._tx(sequence)
        drain_deadline: float | None = None
        while True:
            if self.stop.is_set():
                drain_deadline = drain_deadline or time.monotonic() + DRAIN_TIMEOUT_S
                if time.monotonic() > drain_deadline:
                    return  # never settled: the test reports it
            rpc = self.rng.choice(self.rpcs)
            try:
                check = broadcast_signed(rpc, tx)
                self.account.broadcasts += 1
            except RPCError:
                time.sleep(0.2)  # that node is down or restarting: another one next time
                continue
            if not check.ok:
                # A node behind the others (restarting, catching up) sees a sequence gap;
                # one ahead of our last look sees the tx already committed.
                self.account.refusals[f"code {check.code}"] += 1
                if not WRONG_SEQUENCE.matches(check.code):
                    time.sleep(0.5)
            if self._wait_for(sequence):
                self.account.confirmed += 1
                if self.stop.is_set():
                    self.account.settled = True
                    return
                sequence += 1
                tx = self._tx(sequence)


class Chaos:
    """Kills a random process of a random node every few seconds, and restarts it."""

    def __init__(self, net: Localnet, rng: random.Random) -> None:
        self.net = net
        self.rng = rng
        self.kills: Counter[str] = Counter()

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            pause = self.rng.uniform(*KILL_EVERY_S)
            if time.monotonic() + pause > deadline:
                return
            time.sleep(pause)
            index = self.rng.randrange(self.net.size)
            which = self.rng.choice(("app", "cometbft"))
            runner = self.net.runner(index)
            process: ManagedProcess = runner.app if which == "app" else runner.cometbft
            process.kill()
            self.kills[which] += 1
            time.sleep(self.rng.uniform(*DOWN_FOR_S))
            self.restart(index)

    def restart(self, index: int) -> None:
        """Bring node ``index`` back: cometbft alone when only it died, else both."""
        runner = self.net.runner(index)
        if runner.app.running() and not runner.cometbft.running():
            runner.cometbft.start()
        else:
            # cometbft stops itself when its app's connection drops; wait for it briefly.
            deadline = time.monotonic() + 5.0
            while runner.cometbft.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            runner.stop(timeout=10)
            runner.start(ready_timeout=READY_TIMEOUT_S)
        with runner.rpc(timeout=2.0) as rpc:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not rpc.health():
                assert runner.cometbft.running(), (
                    f"node{index}'s cometbft exited after a restart:\n"
                    f"{runner.cometbft.log_tail()}")
                assert time.monotonic() < deadline, f"node{index} did not come back"
                time.sleep(0.1)


def caught_up_height(net: Localnet, timeout: float = 120.0) -> int:
    """Wait until every node runs, has caught up and reached the highest height any
    reported; return that height."""
    for index in range(net.size):
        assert net.runner(index).running(), f"node{index} is not running"
    deadline = time.monotonic() + timeout
    while True:
        statuses = []
        with contextlib.suppress(RPCError):
            for index in range(net.size):
                with net.rpc(index, timeout=5) as rpc:
                    statuses.append(rpc.status()["sync_info"])
        if len(statuses) == net.size and not any(s["catching_up"] for s in statuses):
            break
        assert time.monotonic() < deadline, f"the nodes did not catch up: {statuses}"
        time.sleep(0.5)
    height = max(int(s["latest_block_height"]) for s in statuses)
    net.wait_for_height(height, timeout=max(1.0, deadline - time.monotonic()))
    return height


def app_hashes_at(net: Localnet, height: int) -> set[str]:
    """Each node's app hash after block ``height`` (in the header of block height + 1)."""
    net.wait_for_height(height + 1, timeout=60)
    hashes = set()
    for index in range(net.size):
        with net.rpc(index) as rpc:
            hashes.add(rpc.block(height + 1)["block"]["header"]["app_hash"])
    return hashes


def test_the_chain_loses_nothing_while_processes_are_killed(localnet_dir: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", str(time.time_ns() % 2**32)))
    rng = random.Random(seed)
    accounts = [LoadAccount(new_signer(f"load{i}")) for i in range(LOAD_ACCOUNTS)]
    sink = new_signer("sink").address
    spec = LocalnetSpec(validators=VALIDATORS, chain_id="race-chaos",
                        base_port=free_port_block(VALIDATORS), providers=False, gateway=False)
    net = Localnet.create(localnet_dir, spec, extra_balances={
        **{a.signer.address: LOAD_BALANCE_NICOIN for a in accounts},
        sink: SINK_BALANCE_NICOIN})
    net.start()
    net.wait_for_height(2, timeout=60)
    with net.rpc(0) as rpc:
        fee = int(ChainQueries(rpc).auth_params().min_fee_nicoin)
    stop = threading.Event()
    workers = [LoadWorker(net, account, sink, spec.chain_id, fee, stop, rng.randrange(2**32))
               for account in accounts]
    chaos = Chaos(net, rng)

    started = time.monotonic()
    for worker in workers:
        worker.start()
    chaos.run(CHAOS_SECONDS)
    chaos_minutes = (time.monotonic() - started) / 60
    stop.set()
    for worker in workers:
        worker.join(DRAIN_TIMEOUT_S + 30)

    height = caught_up_height(net)
    hashes = app_hashes_at(net, height)
    sequences: dict[str, list[int]] = {}
    balances: dict[str, list[int]] = {}
    for index in range(net.size):
        with net.rpc(index) as rpc:
            queries = ChainQueries(rpc)
            for address in [a.signer.address for a in accounts] + [sink]:
                account = queries.account(address)
                sequences.setdefault(address, []).append(
                    0 if account is None else int(account.sequence))
                balances.setdefault(address, []).append(queries.balance_nicoin(address))
    confirmed = sum(a.confirmed for a in accounts)
    lost = sum(max(0, a.confirmed - min(sequences[a.signer.address])) for a in accounts)
    twice = sum(max(0, max(sequences[a.signer.address]) - a.confirmed) for a in accounts)
    report = {
        "chaos_minutes": round(chaos_minutes, 2), "kills": sum(chaos.kills.values()),
        "kills_by_process": dict(chaos.kills), "txs_confirmed": confirmed, "txs_lost": lost,
        "txs_applied_twice": twice, "broadcasts": sum(a.broadcasts for a in accounts),
        "refusals": dict(sum((a.refusals for a in accounts), Counter())),
        "final_height": height, "app_hashes": len(hashes), "seed": seed,
    }
    print(json.dumps(report))

    assert all(a.settled for a in accounts), [a.signer.name for a in accounts if not a.settled]
    assert [a.anomalies for a in accounts] == [[]] * LOAD_ACCOUNTS
    assert len(hashes) == 1, f"different app hashes after block {height}: {hashes}"
    assert lost == 0 and twice == 0, report
    for account in accounts:
        spent = account.confirmed * (AMOUNT_NICOIN + fee)
        assert balances[account.signer.address] == [LOAD_BALANCE_NICOIN - spent] * VALIDATORS
    assert balances[sink] == [SINK_BALANCE_NICOIN + confirmed * AMOUNT_NICOIN] * VALIDATORS
    assert chaos.kills and confirmed > 0
