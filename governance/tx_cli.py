"""``race tx``: sign transactions with a keyring key, broadcast them, and wait for the commit."""

from __future__ import annotations

from typing import Annotated

import typer

from abci_app.tx import build_signed_tx
from governance import lookups
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption, connect
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    console,
    fail,
    key_value_table,
    show,
    user_errors,
)
from race_node.client.keyring import Keyring
from race_node.client.rpc import CometRPC, TxResult
from race_node.node.home import NodeHome
from race_protocol.gen.race.v1 import bank_pb2

app = typer.Typer(
    help="Sign and broadcast transactions.\n\n"
         "Example:\n\n"
         "  race tx send race1qy...x5 1.5icoin --from alice",
    no_args_is_help=True,
)


def signer_account(rpc: CometRPC, address: str, key_name: str) -> dict[str, object]:
    """The signer's on-chain account; a clear error when it has never received coins."""
    account = lookups.account(rpc, address)
    if account is None:
        raise CommandError(f"account {address} ({key_name}) does not exist on chain yet: it "
                           "must receive coins before it can send a tx")
    return account


def wait_for_commit(rpc: CometRPC, tx_hash: str, timeout: float,
                    output: OutputFormat) -> TxResult:
    """Wait for the tx to land in a committed block, with a spinner in text output."""
    if output is OutputFormat.text:
        with console.status(f"tx {tx_hash[:12]}… accepted; waiting for a block"):
            return rpc.wait_for_tx(tx_hash, timeout=timeout)
    return rpc.wait_for_tx(tx_hash, timeout=timeout)


def broadcast_and_report(rpc: CometRPC, tx_bytes: bytes, wait: bool, timeout: float,
                         output: OutputFormat, summary: dict[str, object]) -> None:
    """Broadcast, report CheckTx's verdict, and (with ``wait``) the committed result.

    Exits 1 when CheckTx or FinalizeBlock rejects the tx, with the chain's code and log.
    """
    checked = rpc.broadcast_tx_sync(tx_bytes)
    document: dict[str, object] = {**summary, "hash": checked.hash, "check_code": checked.code,
                                   "check_log": checked.log, "codespace": checked.codespace}
    if not checked.ok:
        fail(f"the node rejected the tx (code {checked.code}"
             f"{', ' + checked.codespace if checked.codespace else ''}): {checked.log}",
             output, **{k: v for k, v in document.items() if k != "error"})
    committed: TxResult | None = None
    if wait:
        committed = wait_for_commit(rpc, checked.hash, timeout, output)
        document.update(height=committed.height, code=committed.code, log=committed.log,
                        codespace=committed.codespace, events=committed.events)
    rows = [(k, v) for k, v in document.items() if k != "events"]
    show(output, document, key_value_table("transaction", rows))
    if committed is not None and not committed.ok:
        raise typer.Exit(1)


@app.command("send")
def send(
    to: Annotated[str, typer.Argument(help="recipient: a race1... address or a key name")],
    amount: Annotated[str, typer.Argument(help="amount with denomination, e.g. 1.5icoin, "
                                               "250micoin, 10uicoin, 300nicoin")],
    from_key: Annotated[str, typer.Option("--from", "-f", help="keyring key that signs and pays")],
    fee: Annotated[str | None, typer.Option(help="fee, e.g. 1000nicoin; default: the "
                                                 "chain's minimum fee")] = None,
    memo: Annotated[str, typer.Option(help="free text stored with the tx")] = "",
    chain_id: Annotated[str | None, typer.Option(help="default: the node's chain id")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait",
                                       help="wait until the tx is in a committed block")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the commit")] = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Send AMOUNT from key --from to TO, wait for the commit, and show its code and log.

    Examples:

      race tx send race1qy...x5 1.5icoin --from alice

      race tx send bob 300nicoin --from alice --fee 1000nicoin --output json
    """
    with user_errors(output):
        # Everything that can be checked offline is checked before touching the network.
        keyring = Keyring(NodeHome(home).keyring_dir)
        sender = keyring.show(from_key)
        recipient = keyring.resolve_address(to)
        amount_nicoin = lookups.parse_amount_nicoin(amount)
        if amount_nicoin == 0:
            raise CommandError(f"bad amount {amount!r}: must be more than zero")
        fee_nicoin = None if fee is None else lookups.parse_amount_nicoin(fee, "fee")
        with connect(home, node) as rpc:
            account = signer_account(rpc, sender.address, from_key)
            if fee_nicoin is None:
                fee_nicoin = lookups.min_fee_nicoin(rpc)
            message = bank_pb2.MsgSend(from_address=sender.address, to_address=recipient,
                                       amount_nicoin=amount_nicoin)
            tx_bytes = build_signed_tx(keyring.private_key(from_key),
                                       chain_id or lookups.chain_id(rpc),
                                       int(account["sequence"]), fee_nicoin, [message],
                                       memo=memo)
            broadcast_and_report(rpc, tx_bytes, wait, timeout, output, {
                "from": sender.address, "to": recipient, "amount": lookups.format_nicoin(
                    amount_nicoin), "fee": lookups.format_nicoin(fee_nicoin),
                "sequence": int(account["sequence"]),
            })
