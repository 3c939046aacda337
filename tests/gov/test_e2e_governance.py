"""Governance and pricing end to end: a 4-validator localnet on loopback, driven through the
`race` CLI, with the REST and gRPC gateways served by `race gateway serve`.

* A model is proposed, topped up with a deposit, voted in, becomes active, and its price
  per token shows in `race models list`.
* Three validators vote prices; the fourth never votes and counts at the current price; the
  next epoch's price is the weighted median.
* The REST and gRPC gateways return the same answers as the CLI.
* A community spend pays from the gov account, while deposits wait in their escrow account.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from typer.testing import CliRunner

from abci_app.core.authority import governance_authority
from abci_app.modules.gov import errors as gov_errors
from abci_app.modules.models import errors as models_errors
from abci_app.tx import build_signed_tx
from governance import lookups
from governance.main import app
from race_node.client.queries import to_json
from race_node.localnet import Localnet
from race_node.node.home import NodeConfigError, find_cometbft
from race_protocol.gen.race.v1 import models_pb2, query_pb2, query_pb2_grpc
from tests.e2e.localnet_ports import free_port_block
from tests.harness import address_of, key_from_seed

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

VALIDATORS = 4
EPOCH_BLOCKS = 12
VOTING_BLOCKS = 20
GENESIS_PRICE = 50
ICOIN = 10**9
MIN_DEPOSIT = 100 * ICOIN
GENESIS_PARAMS = {
    "epochs": {"epoch_length_blocks": EPOCH_BLOCKS},
    "pricing": {"genesis_price_per_unit_nicoin": GENESIS_PRICE},
    "gov": {"min_deposit_nicoin": MIN_DEPOSIT, "min_initial_deposit_nicoin": ICOIN,
            "max_deposit_period_blocks": 40, "voting_period_blocks": VOTING_BLOCKS},
}
REPO = Path(__file__).resolve().parents[2]


def race(*args: str, expect_ok: bool = True) -> dict[str, Any]:
    """Run `race ARGS --output json` in-process and parse its one JSON document."""
    result = CliRunner().invoke(app, [*args, "--output", "json"])
    if expect_ok:
        assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def genesis_param_options() -> list[str]:
    """Short epochs and periods, as `race localnet init --param MODULE.KEY=VALUE` options."""
    return [option for module, params in GENESIS_PARAMS.items()
            for key, value in params.items()
            for option in ("--param", f"{module}.{key}={value}")]


class Network:
    """The running localnet, its validators' homes and the gateway's addresses."""

    def __init__(self, net: Localnet, rest_url: str, grpc_target: str) -> None:
        self.net = net
        self.rest_url = rest_url
        self.grpc_target = grpc_target

    def cli(self, index: int, *args: str, expect_ok: bool = True) -> dict[str, Any]:
        """`race ...` as validator ``index`` (its home, its key, its node)."""
        return race(*args, "--home", str(self.net.home(index).root),
                    "--node", self.net.node(index)["rpc"], expect_ok=expect_ok)

    def height(self) -> int:
        with self.net.rpc(0) as rpc:
            return rpc.latest_height()

    def wait_for_height(self, height: int, timeout: float = 60.0) -> None:
        self.net.wait_for_height(height, indices=[0], timeout=timeout)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    try:
        find_cometbft()
    except NodeConfigError as exc:
        pytest.fail(f"end-to-end tests need cometbft: {exc}")
    directory = tmp_path_factory.mktemp("gov") / "net"
    race("localnet", "init", "--validators", str(VALIDATORS), "--dir", str(directory),
         "--base-port", str(free_port_block(VALIDATORS)), "--timeout-commit", "200ms",
         "--timeout-propose", "1s", "--empty-blocks", "--no-gateway", "--no-providers",
         *genesis_param_options())
    net = Localnet(directory)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        race("localnet", "start", "--dir", str(directory))
        net.wait_for_height(2, timeout=60)
        rest_port, grpc_port = free_ports(2)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "governance.main", "gateway", "serve",
             "--node", net.node(0)["rpc"], "--rest-port", str(rest_port),
             "--grpc-port", str(grpc_port)],
            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rest_url = f"http://127.0.0.1:{rest_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{rest_url}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert gateway.poll() is None, gateway.stderr.read().decode() if gateway.stderr \
                else "the gateway exited"
            assert time.monotonic() < deadline, "the gateway did not start within 30 s"
            time.sleep(0.2)
        yield Network(net, rest_url, f"127.0.0.1:{grpc_port}")
    finally:
        if gateway is not None:
            gateway.terminate()
            try:
                gateway.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gateway.kill()
        net.stop(timeout=10)


def test_a_model_enters_the_registry_through_governance(network: Network) -> None:
    submitted = network.cli(
        0, "gov", "propose", "model", "--id", "smollm2-135m",
        "--hf-repo", "HuggingFaceTB/SmolLM2-135M-Instruct", "--revision", "main",
        "--units", "1000", "--max-context", "2048", "--deposit", "60icoin",
        "--from", "validator")
    proposal_id = submitted["proposal_id"]
    shown = network.cli(1, "gov", "show", proposal_id)["proposal"]
    assert shown["status"] == "PROPOSAL_STATUS_DEPOSIT_PERIOD"

    topped_up = network.cli(1, "gov", "deposit", proposal_id, "40icoin", "--from", "validator")
    voting_end = int(topped_up["voting_end_height"])
    for index in range(3):
        assert network.cli(index, "gov", "vote", proposal_id, "yes",
                           "--from", "validator")["code"] == 0
    still_open = network.height() < voting_end - 1
    running = network.cli(3, "gov", "tally", proposal_id)
    assert (running["tally"]["yes"], running["outcome"]) == ("30", "passed")
    if still_open:
        assert running["final"] is False

    network.wait_for_height(voting_end + 1)
    final = network.cli(2, "gov", "tally", proposal_id)
    assert (final["final"], final["tally"]["yes"], final["tally"]["total_weight"]) == (
        True, "30", "40")
    listed = network.cli(3, "models", "list")
    (model,) = listed["models"]
    assert (model["id"], model["status"]) == ("smollm2-135m", "MODEL_STATUS_ACTIVE")
    price = int(listed["price_per_unit_nicoin"])
    assert listed["price_per_token_nicoin"] == [str(1000 * price)]

    # A deposit into the closed proposal is refused with its code.
    refused = network.cli(0, "gov", "deposit", proposal_id, "1icoin", "--from", "validator",
                          expect_ok=False)
    assert refused["code"] == gov_errors.PROPOSAL_CLOSED.code and "passed" in refused["log"]


def test_next_epoch_price_is_the_weighted_median_of_the_votes(network: Network) -> None:
    assert network.cli(0, "price", "show")["price_per_unit_nicoin"] == str(GENESIS_PRICE)
    # Equal weights (10 each); validator 3 never votes and counts at the current price.
    votes = {0: 300, 1: 100, 2: 200}
    counts_at = 0
    for index, nicoin in votes.items():
        voted = network.cli(index, "price", "vote", f"{nicoin}nicoin", "--from", "validator")
        counts_at = max(counts_at, int(voted["counts_at_height"]))
    network.wait_for_height(counts_at + 1)
    shown = network.cli(3, "price", "show", "--voter", "validator", "--history", "3")
    (priced,) = [entry for entry in shown["history"]["prices"]
                 if int(entry["start_height"]) == counts_at + 1]
    # Sorted: 50 (validator 3, the current price) 100, 200, 300, weight 10 each: the weight
    # splits evenly between 100 and 200, so the median is their midpoint. If an epoch ended
    # between the votes, the interim price (50 or 75) is still below 100: same answer.
    assert (priced["price_per_unit_nicoin"], priced["voters"], priced["total_weight"]) == (
        "150", "3", "40")
    assert shown["vote"]["found"] is False and shown["vote"]["weight"] == "10"


def test_a_direct_model_registration_is_refused(network: Network) -> None:
    keyring = network.net.keyring(0)
    signer = keyring.show("validator")
    with network.net.rpc(0) as rpc:
        account = lookups.account(rpc, signer.address)
        assert account is not None
        tx = build_signed_tx(keyring.private_key("validator"), lookups.chain_id(rpc),
                             int(account["sequence"]), lookups.min_fee_nicoin(rpc),
                             [models_pb2.MsgRegisterModel(
                                 authority=signer.address, id="sneaky",
                                 source=models_pb2.ModelSource(hf_repo="a/b", revision="c"),
                                 units_of_compute_per_token=1, max_context=1,
                                 validation_threshold_ppm=1)])
        checked = rpc.broadcast_tx_sync(tx)
    assert checked.code == models_errors.GOVERNANCE_ONLY.code
    assert "race gov propose model" in checked.log


def test_gateways_answer_like_the_cli(network: Network) -> None:
    address = network.net.node(3)["account"]
    # (CLI args, REST path, gRPC method, request, how the CLI's JSON holds the answer)
    cases: list[tuple[tuple[str, ...], str, str, Any]] = [
        (("models", "list"), "/race/models/v1/models", "Models",
         query_pb2.QueryModelsRequest()),
        (("models", "show", "smollm2-135m"), "/race/models/v1/models/smollm2-135m", "Model",
         query_pb2.QueryModelRequest(id="smollm2-135m")),
        (("gov", "list"), "/race/gov/v1/proposals", "Proposals",
         query_pb2.QueryProposalsRequest()),
        (("gov", "tally", "1"), "/race/gov/v1/proposals/1/tally", "Tally",
         query_pb2.QueryTallyRequest(proposal_id=1)),
        (("gov", "params"), "/race/gov/v1/params", "GovParams",
         query_pb2.QueryGovParamsRequest()),
        (("price", "show"), "/race/pricing/v1/price", "Price", query_pb2.QueryPriceRequest()),
    ]
    with grpc.insecure_channel(network.grpc_target) as channel:
        stub = query_pb2_grpc.QueryStub(channel)
        for cli_args, rest_path, method, request in cases:
            for _attempt in range(3):  # an epoch may end between the three reads
                from_cli = network.cli(0, *cli_args)
                from_rest = httpx.get(network.rest_url + rest_path, timeout=10).json()
                from_grpc = to_json(getattr(stub, method)(request, timeout=10))
                if from_cli == from_rest == from_grpc:
                    break
            assert from_cli == from_rest == from_grpc, (cli_args, from_cli, from_rest,
                                                        from_grpc)
        vote_cli = network.cli(0, "price", "show", "--voter", address)["vote"]
        vote_rest = httpx.get(f"{network.rest_url}/race/pricing/v1/votes/{address}",
                              timeout=10).json()
        vote_grpc = json_format.MessageToDict(
            stub.PriceVote(query_pb2.QueryPriceVoteRequest(voter=address), timeout=10),
            preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        assert vote_cli == {**vote_rest, "voter": address} and vote_rest == vote_grpc

        # A proposal's messages come back as proto3 JSON with "@type" on every surface.
        shown = network.cli(0, "gov", "show", "1")["proposal"]
        assert shown["messages"][0]["@type"] == "/race.v1.MsgRegisterModel"
        assert shown == httpx.get(f"{network.rest_url}/race/gov/v1/proposals/1",
                                  timeout=10).json()["proposal"] == to_json(stub.Proposal(
            query_pb2.QueryProposalRequest(proposal_id=1), timeout=10))["proposal"]

        with pytest.raises(grpc.RpcError) as missing:
            stub.Proposal(query_pb2.QueryProposalRequest(proposal_id=999), timeout=10)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert httpx.get(f"{network.rest_url}/race/gov/v1/proposals/999", timeout=10).status_code \
        == 404
    openapi = httpx.get(f"{network.rest_url}/openapi.json", timeout=10).json()
    assert "/race/pricing/v1/price" in openapi["paths"]


def test_tables_for_people(network: Network) -> None:
    home = ["--home", str(network.net.home(0).root), "--node", network.net.node(0)["rpc"]]
    for args, expected in [
        (["models", "list"], "smollm2-135m"),
        (["models", "show", "smollm2-135m"], "price per token"),
        (["gov", "list"], "MsgRegisterModel"),
        (["gov", "show", "1"], "MsgRegisterModel.units_of_compute_per_token"),
        (["gov", "account"], governance_authority()),
        (["gov", "tally", "1"], "final tally"),
        (["gov", "params"], "voting_period_blocks"),
        (["price", "show", "--voter", "validator", "--history", "2"], "price history"),
    ]:
        result = CliRunner().invoke(app, [*args, *home], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.stdout
        assert expected in result.stdout, result.stdout


def test_a_community_spend_pays_from_the_gov_account(network: Network) -> None:
    gov_address = network.cli(0, "gov", "account")["gov_account"]["address"]
    assert gov_address == governance_authority()
    funded = network.cli(0, "tx", "send", gov_address, "20icoin", "--from", "validator")
    assert funded["code"] == 0
    recipient = address_of(key_from_seed(424242))  # a fresh account: no fees, no rewards
    submitted = network.cli(1, "gov", "propose", "send", "--to", recipient, "--amount",
                            "15icoin", "--deposit", "100icoin", "--from", "validator")
    assert submitted["kind"] == "MsgSend"
    proposal_id, voting_end = submitted["proposal_id"], int(submitted["voting_end_height"])
    during = network.cli(0, "gov", "account")
    assert int(during["gov_account"]["amount_nicoin"]) == 20 * ICOIN
    assert int(during["deposits_escrow"]["amount_nicoin"]) == MIN_DEPOSIT
    for index in range(3):
        assert network.cli(index, "gov", "vote", proposal_id, "yes",
                           "--from", "validator")["code"] == 0

    network.wait_for_height(voting_end + 1)
    shown = network.cli(2, "gov", "show", proposal_id)["proposal"]
    assert shown["status"] == "PROPOSAL_STATUS_PASSED", shown
    after = network.cli(3, "gov", "account")
    assert int(after["gov_account"]["amount_nicoin"]) == 5 * ICOIN
    assert int(after["deposits_escrow"]["amount_nicoin"]) == 0
    received = network.cli(3, "query", "balance", recipient)
    assert int(received["amount_nicoin"]) == 15 * ICOIN
