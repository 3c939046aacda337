"""Four validators on loopback, driven through the `race` CLI: txs flow, one validator is
killed with SIGKILL and the chain keeps committing, it restarts and catches up, and every
node ends on the same app hash at the same height (DESIGN.md §8). The localnet's gateway
(REST + gRPC in front of node0) answers like the CLI, with the genesis params given to
`race localnet init --param`, and stops with the localnet. The chain alone
(`--no-providers`): the providers have their own test, test_providers_e2e.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import httpx
import pytest
from localnet_ports import free_port_block
from typer.testing import CliRunner

from race_node.client.rpc import CometRPC
from race_node.localnet import Localnet

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

VALIDATORS = 4
KILLED = 3
GENESIS_PRICE = 77
VOTING_PERIOD = 33


def race(*args: str) -> dict:
    from governance.main import app

    result = CliRunner().invoke(app, [*args, "--output", "json"])
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


def send(net: Localnet, sender: int, recipient: str, amount: str, via: int) -> dict:
    """`race tx send` signed by validator ``sender``'s key, through node ``via``'s RPC."""
    sent = race("tx", "send", recipient, amount, "--from", "validator",
                "--home", str(net.home(sender).root), "--node", net.node(via)["rpc"])
    assert sent["code"] == 0, sent
    return sent


def balance(net: Localnet, address: str, via: int) -> int:
    return int(race("query", "balance", address, "--node", net.node(via)["rpc"],
                    "--home", str(net.home(via).root))["amount_nicoin"])


def converged_app_hash(net: Localnet, timeout: float = 60.0) -> tuple[int, str]:
    """Poll every node's app (ABCI Info) until all report the same height; return it."""
    deadline = time.monotonic() + timeout
    reports: list[tuple[int, str]] = []
    while time.monotonic() < deadline:
        reports = []
        for index in range(net.size):
            with net.rpc(index, timeout=5) as rpc:
                info = rpc.abci_info()
            reports.append((info["last_block_height"], info["last_block_app_hash"]))
        if len({height for height, _ in reports}) == 1:
            assert len(set(reports)) == 1, f"same height, different app hashes: {reports}"
            return reports[0]
        time.sleep(0.3)
    raise AssertionError(f"the nodes never reported the same height: {reports}")


def test_four_validators_survive_a_killed_validator_and_converge(localnet_dir: Path) -> None:
    directory = str(localnet_dir)
    race("localnet", "init", "--validators", str(VALIDATORS), "--dir", directory,
         "--base-port", str(free_port_block(VALIDATORS)), "--timeout-commit", "200ms",
         "--timeout-propose", "1s", "--no-empty-blocks", "--no-providers",
         "--param", f"pricing.genesis_price_per_unit_nicoin={GENESIS_PRICE}",
         "--param", f"gov.voting_period_blocks={VOTING_PERIOD}")
    started = race("localnet", "start", "--dir", directory)
    assert [n["running"] for n in started["nodes"]] == [True] * VALIDATORS
    gateway = started["gateway"]
    assert gateway["running"] is True
    net = Localnet(localnet_dir)
    accounts = [net.node(i)["account"] for i in range(VALIDATORS)]
    net.wait_for_height(1, timeout=60)

    # The gateway answers over REST and gRPC what the CLI says, genesis params included.
    node0 = ["--home", str(net.home(0).root), "--node", net.node(0)["rpc"]]
    price = race("price", "show", *node0)
    assert price == httpx.get(f"{gateway['rest']}/race/pricing/v1/price", timeout=10).json()
    assert price["price_per_unit_nicoin"] == str(GENESIS_PRICE)
    gov_params = race("gov", "params", *node0)
    assert gov_params == httpx.get(f"{gateway['rest']}/race/gov/v1/params", timeout=10).json()
    assert gov_params["params"]["voting_period_blocks"] == str(VOTING_PERIOD)
    from race_protocol.gen.race.v1 import query_pb2, query_pb2_grpc

    with grpc.insecure_channel(gateway["grpc"]) as channel:
        answer = query_pb2_grpc.QueryStub(channel).Price(query_pb2.QueryPriceRequest(),
                                                         timeout=10)
    assert answer.price_per_unit_nicoin == GENESIS_PRICE

    # Txs flow: sent through node 0, visible on node 2.
    first = send(net, sender=0, recipient=accounts[1], amount="1icoin", via=0)
    net.wait_for_height(first["height"], indices=[2], timeout=30)
    start_balance = balance(net, accounts[1], via=0)
    assert balance(net, accounts[1], via=2) == start_balance

    # Kill one validator outright: the other three hold 3/4 > 2/3 of the power.
    net.kill(KILLED)
    assert race("localnet", "status", "--dir", directory)["nodes"][KILLED]["running"] is False
    during_outage = [send(net, sender=1, recipient=accounts[2], amount=f"{n}nicoin", via=1)
                     for n in (5, 6, 7)]
    assert all(tx["height"] > first["height"] for tx in during_outage)

    # Restart it: it catches up to the blocks it missed and rejoins consensus.
    race("localnet", "start", "--dir", directory, "--node", str(KILLED))
    last_outage_height = max(tx["height"] for tx in during_outage)
    with CometRPC(net.node(KILLED)["rpc"]) as rpc:
        rpc.wait_for_height(last_outage_height, timeout=60)
    through_restarted = send(net, sender=2, recipient=accounts[0], amount="2icoin", via=KILLED)
    assert through_restarted["height"] > last_outage_height

    height, app_hash = converged_app_hash(net)
    assert height >= through_restarted["height"] and app_hash
    assert balance(net, accounts[2], via=KILLED) == balance(net, accounts[2], via=0)
    statuses = race("localnet", "status", "--dir", directory)["nodes"]
    assert all(s["running"] and not s["catching_up"] for s in statuses)

    assert race("localnet", "status", "--dir", directory)["gateway"]["running"] is True

    stopped = race("localnet", "stop", "--dir", directory)
    assert not any(n["app_running"] or n["cometbft_running"] for n in stopped["nodes"])
    assert stopped["gateway"]["running"] is False
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{gateway['rest']}/race/pricing/v1/price", timeout=5)
