"""``race relay``: register the key a gateway signs tickets with (docs/inference.md).

A relay key is an ed25519 key of your keyring; its share of every charge it relays goes to
the ``--from`` account. Registration carries the relay key's own signature over the chain
id and the owner, so no one can register your relay key to collect its share. A gateway
you run yourself (``race gateway serve --relay-key NAME``) keeps your API keys on your
machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from governance.common import (
    FeeOption,
    FromOption,
    TimeoutOption,
    WaitOption,
    as_json,
    command_errors,
    query,
    sign_and_send,
)
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import OutputFormat, OutputOption, key_value_table, show
from race_node.client.keyring import Keyring
from race_node.client.rpc import CometRPC
from race_node.node.home import NodeHome
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import relay_registration_bytes

app = typer.Typer(
    help="Relay keys: the keys gateways sign tickets with.\n\n"
         "Examples:\n\n"
         "  race relay register --from validator\n\n"
         "  race relay register --from treasury --relay-key gateway-hot-key\n\n"
         "  race relay show validator",
    no_args_is_help=True,
)

RelayKeyOption = Annotated[str | None, typer.Option(
    help="keyring key that signs tickets (default: the --from key)")]


def relay_public_key(home: Path, name: str) -> bytes:
    keyring = Keyring(NodeHome(home).keyring_dir)
    return keyring.private_key(name).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@app.command("register")
def register(
    from_key: FromOption = ...,  # type: ignore[assignment]
    relay_key: RelayKeyOption = None,
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Register a relay key, its share paid to the --from account.

    Example: race relay register --from validator
    """
    with command_errors(output):
        keyring = Keyring(NodeHome(home).keyring_dir)
        signing = keyring.private_key(relay_key or from_key)
        public_key = relay_public_key(home, relay_key or from_key)

        def build(signer: str, rpc: CometRPC) -> list[pb.MsgRegisterRelay]:
            chain_id = str(rpc.status()["node_info"]["network"])
            proof = signing.sign(relay_registration_bytes(chain_id, signer, public_key))
            return [pb.MsgRegisterRelay(owner=signer, public_key=public_key, proof=proof)]

        sign_and_send(home=home, node=node, from_key=from_key, fee=fee, wait=wait,
                      timeout=timeout, output=output, build=build,
                      summary={"action": "register relay", "relay_key": public_key.hex()})


@app.command("deregister")
def deregister(
    from_key: FromOption = ...,  # type: ignore[assignment]
    relay_key: RelayKeyOption = None,
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Remove a relay key you own: its tickets are no longer settled.

    Example: race relay deregister --from validator
    """
    with command_errors(output):
        public_key = relay_public_key(home, relay_key or from_key)
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [pb.MsgDeregisterRelay(owner=signer,
                                                              public_key=public_key)],
            summary={"action": "deregister relay", "relay_key": public_key.hex()})


@app.command("show")
def show_relay(
    relay: Annotated[str, typer.Argument(help="keyring key name, or the relay key in hex")],
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show whether a relay key is registered, and to whom.

    Example: race relay show validator
    """
    with command_errors(output):
        if len(relay) == 64 and all(c in "0123456789abcdefABCDEF" for c in relay):
            public_key = relay.lower()
        else:
            public_key = relay_public_key(home, relay).hex()
        answer = as_json(query(home, node, "Relay", pb.QueryRelayRequest(public_key=public_key)))
    registered = answer.get("relay") or {}
    show(output, answer, key_value_table("relay", [
        ("relay key", public_key), ("registered", "yes" if answer.get("found") else "no"),
        ("owner", registered.get("owner", "-")),
        ("since height", registered.get("registered_height", "-"))]))
