"""A real validator with slow blocks and its real gateway process (`race gateway serve`,
started by the localnet library exactly as `race localnet start` starts it).

Blocks come every ~6 s, so a broadcast that waits for its commit holds its request for
seconds: long enough to see whether those waits can take every worker of a gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from abci_app.tx.keys import address_from_public_key, public_key_bytes
from race_node.client.broadcast import Signer
from race_node.localnet import Localnet, LocalnetSpec
from race_node.node.home import NodeConfigError, find_cometbft
from tests.e2e.localnet_ports import free_port_block

SIGNERS = 24
SIGNER_BALANCE_NICOIN = 1_000 * 10**9
BLOCK_INTERVAL = "6s"


@dataclass
class GatewayNet:
    """The one-validator localnet, its gateway's addresses and funded signers."""

    net: Localnet
    rest_url: str
    grpc_target: str
    chain_id: str
    signers: list[Signer]


@pytest.fixture(scope="package")
def gateway_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayNet]:
    try:
        find_cometbft()
    except NodeConfigError as exc:
        pytest.fail(f"gateway tests need cometbft: {exc}")
    keys = [Ed25519PrivateKey.generate() for _ in range(SIGNERS)]
    signers = [Signer(f"signer{i}", address_from_public_key(public_key_bytes(key)), key)
               for i, key in enumerate(keys)]
    spec = LocalnetSpec(validators=1, chain_id="race-gateway", base_port=free_port_block(1),
                        timeout_commit=BLOCK_INTERVAL, providers=False, gateway=True)
    net = Localnet.create(tmp_path_factory.mktemp("gateway") / "net", spec,
                          extra_balances={s.address: SIGNER_BALANCE_NICOIN for s in signers})
    try:
        net.start(gateway=True)
        net.wait_for_height(1, timeout=60)
        gateway = net.gateway()
        assert gateway is not None
        yield GatewayNet(net, gateway["rest"], gateway["grpc"], spec.chain_id, signers)
    finally:
        net.stop(timeout=10)
