"""``race tx``: sign transactions with a keyring key, broadcast them, and wait for the commit."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf.message import Message

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
from race_node.client.broadcast import Broadcaster, BroadcastError, Signer, Submission
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


def broadcaster_for(rpc: CometRPC, keyring: Keyring, key_name: str,
                    fee_nicoin: int | None = None,
                    chain_id: str | None = None) -> Broadcaster:
    """The one sign-broadcast-wait path, signing with keyring key ``key_name``."""
    return Broadcaster(rpc, Signer.from_keyring(keyring, key_name), chain_id=chain_id,
                       fee_nicoin=fee_nicoin)


def wait_for_commit(broadcaster: Broadcaster, submission: Submission, timeout: float,
                    output: OutputFormat) -> Submission:
    """Wait for the tx to land in a committed block, with a spinner in text output."""
    if output is OutputFormat.text:
        with console.status(f"tx {submission.hash[:12]}… accepted; waiting for a block"):
            return broadcaster.wait(submission, timeout)
    return broadcaster.wait(submission, timeout)


def submit(broadcaster: Broadcaster, messages: list[Message], memo: str = "") -> Submission:
    """Sign and broadcast; a missing signer account becomes a readable command error."""
    try:
        return broadcaster.submit(messages, memo)
    except BroadcastError as exc:
        raise CommandError(str(exc)) from exc


def broadcast_and_report(broadcaster: Broadcaster, messages: list[Message], memo: str,
                         wait: bool, timeout: float, output: OutputFormat,
                         summary: dict[str, object]) -> None:
    """Sign, broadcast, report CheckTx's verdict, and (with ``wait``) the committed result.

    Exits 1 when CheckTx or FinalizeBlock rejects the tx, with the chain's code and log.
    """
    submission = submit(broadcaster, messages, memo)
    checked = submission.check
    document: dict[str, object] = {**summary, "sequence": submission.sequence,
                                   "hash": checked.hash, "check_code": checked.code,
                                   "check_log": checked.log, "codespace": checked.codespace}
    if not checked.ok:
        fail(f"the node rejected the tx (code {checked.code}"
             f"{', ' + checked.codespace if checked.codespace else ''}): {checked.log}",
             output, **{k: v for k, v in document.items() if k != "error"})
    committed: TxResult | None = None
    if wait:
        committed = wait_for_commit(broadcaster, submission, timeout, output).committed
        assert committed is not None
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
            broadcaster = broadcaster_for(rpc, keyring, from_key, fee_nicoin, chain_id)
            message = bank_pb2.MsgSend(from_address=sender.address, to_address=recipient,
                                       amount_nicoin=amount_nicoin)
            broadcast_and_report(broadcaster, [message], memo, wait, timeout, output, {
                "from": sender.address, "to": recipient, "amount": lookups.format_nicoin(
                    amount_nicoin), "fee": lookups.format_nicoin(broadcaster.fee_nicoin),
            })
