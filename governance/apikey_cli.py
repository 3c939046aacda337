"""``race apikey``: API keys for the OpenAI-compatible API (DESIGN.md 7.1; docs/inference.md).

``create`` makes a secret on this machine, sends only its SHA-256 to the chain with the
budget (moved from your account into escrow), and prints the secret once: it is never
written to disk or logged, and no one can show it again. The secret is the bearer token of
any OpenAI client (``api_key=...``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from governance import lookups
from governance.common import (
    FeeOption,
    FromOption,
    TimeoutOption,
    WaitOption,
    as_json,
    command_errors,
    query,
    resolve_address,
    sign_and_send,
)
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption, connect
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    console,
    fail,
    key_value_table,
    print_json,
    rows_table,
    show,
)
from governance.tx_cli import broadcaster_for, submit, wait_for_commit
from race_node.client.keyring import Keyring
from race_node.node.home import NodeHome
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import API_KEY_PREFIX, api_key_hash, new_api_key

app = typer.Typer(
    help="API keys for the OpenAI-compatible API: a budget in escrow, an optional expiry and "
         "model list; only the secret's hash goes on chain.\n\n"
         "Examples:\n\n"
         "  race apikey create --from validator --budget 5icoin\n\n"
         "  race apikey list validator\n\n"
         "  race apikey revoke 3fa2... --from validator",
    no_args_is_help=True,
)

KeyArgument = Annotated[str, typer.Argument(
    help="the key's hash (hex, as `race apikey list` shows it), or its secret (hashed here, "
         "never sent)")]


def key_hash_of(text: str) -> bytes:
    """A key's hash from its hex hash or from its secret."""
    if text.startswith(API_KEY_PREFIX):
        return api_key_hash(text)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise CommandError(f"{text[:8]}...: give the key's 64-hex-digit hash (see `race "
                           "apikey list`) or its secret") from None
    if len(raw) != 32:
        raise CommandError("a key hash is 32 bytes (64 hex digits)")
    return raw


def key_rows(key: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("key hash", key["key_hash"]), ("owner", key["owner"]),
        ("status", key["status"].removeprefix("API_KEY_STATUS_").lower()),
        ("budget", lookups.format_nicoin(int(key["budget_nicoin"]))),
        ("spent", lookups.format_nicoin(int(key["spent_nicoin"]))),
        ("remaining", lookups.format_nicoin(int(key["remaining_nicoin"]))),
        ("models", ", ".join(key["models"]) or "all"),
        ("created at height", key["created_height"]),
        ("expires after height", key["expires_height"] if key["expires_height"] != "0"
         else "never"),
        ("closes at height", key["closes_height"] if key["closes_height"] != "0" else "-"),
        ("settled tickets", key["settled_tickets"]),
    ]


@app.command("create")
def create(
    budget: Annotated[str, typer.Option(help="moved into escrow now: 5icoin, 300micoin, ...")],
    from_key: FromOption = ...,  # type: ignore[assignment]
    expires_in_blocks: Annotated[int, typer.Option(
        help="blocks during which requests are accepted (0: no expiry)", min=0)] = 0,
    models: Annotated[str, typer.Option(
        help="comma-separated registry ids the key may use (default: every model)")] = "",
    fee: FeeOption = None,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create an API key: escrow its budget and print its secret, once.

    The command waits for the tx's block: the secret is printed only when the chain has
    accepted its key.

    Examples:

      race apikey create --from validator --budget 5icoin

      race apikey create --from dev --budget 1icoin --expires-in-blocks 100000 \\
        --models smollm2-135m-instruct
    """
    with command_errors(output):
        nicoin = lookups.parse_amount_nicoin(budget, "budget")
        allowed = [m.strip() for m in models.split(",") if m.strip()]
        secret = new_api_key()
        key_hash = api_key_hash(secret)
        keyring = Keyring(NodeHome(home).keyring_dir)
        fee_nicoin = None if fee is None else lookups.parse_amount_nicoin(fee, "fee")
        with connect(home, node) as rpc:
            broadcaster = broadcaster_for(rpc, keyring, from_key, fee_nicoin)
            message = pb.MsgCreateApiKey(owner=broadcaster.signer.address, key_hash=key_hash,
                                         budget_nicoin=nicoin,
                                         expires_in_blocks=expires_in_blocks, models=allowed)
            submission = submit(broadcaster, [message])
            if not submission.check.ok:
                fail(f"the node refused the tx (code {submission.check.code}): "
                     f"{submission.check.log}", output, key_hash=key_hash.hex())
            committed = wait_for_commit(broadcaster, submission, timeout, output).committed
        assert committed is not None
        if not committed.ok:
            fail(f"the tx was refused in block {committed.height} (code {committed.code}): "
                 f"{committed.log}", output, key_hash=key_hash.hex())
    document = {"api_key": secret, "key_hash": key_hash.hex(), "owner": message.owner,
                "budget_nicoin": str(nicoin), "expires_in_blocks": expires_in_blocks,
                "models": allowed, "hash": committed.hash, "height": committed.height}
    if output is OutputFormat.json:
        print_json(document)
        return
    console.print(key_value_table("API key created", [
        ("key hash", key_hash.hex()), ("owner", message.owner),
        ("budget", lookups.format_nicoin(nicoin)), ("models", ", ".join(allowed) or "all"),
        ("expires in", f"{expires_in_blocks} blocks" if expires_in_blocks else "never"),
        ("tx", f"{committed.hash} (height {committed.height})")]))
    console.print("\nYour API key, shown only now (store it like a password):\n")
    console.print(f"  {secret}\n", highlight=False, soft_wrap=True)
    console.print("It is the api_key of any OpenAI client, with base_url http://<gateway>/v1.")


@app.command("list")
def list_keys(
    owner: Annotated[str, typer.Argument(help="keyring key name or race1... address")],
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """List an account's API keys (hashes, budgets, status).

    Example: race apikey list validator
    """
    with command_errors(output):
        address = resolve_address(home, owner)
        answer = as_json(query(home, node, "ApiKeys", pb.QueryApiKeysRequest(owner=address)))
    if output is OutputFormat.json:
        print_json(answer)
        return
    keys = answer.get("keys") or []
    show(output, answer, rows_table(f"API keys of {address}", [
        "key hash", "status", "remaining", "spent", "models", "expires after"], [
        (k["key_hash"], k["status"].removeprefix("API_KEY_STATUS_").lower(),
         lookups.format_nicoin(int(k["remaining_nicoin"])),
         lookups.format_nicoin(int(k["spent_nicoin"])), ", ".join(k["models"]) or "all",
         k["expires_height"] if k["expires_height"] != "0" else "never") for k in keys]))


@app.command("show")
def show_key(
    key: KeyArgument,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show one API key's record.

    Example: race apikey show 3fa2...
    """
    with command_errors(output):
        answer = as_json(query(home, node, "ApiKey",
                               pb.QueryApiKeyRequest(key_hash=key_hash_of(key).hex())))
    show(output, answer, key_value_table("API key", key_rows(answer["key"])))


@app.command("revoke")
def revoke(
    key: KeyArgument,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Revoke an API key: no request signed from now on is charged, and what is left goes
    back to you once its last tickets can no longer be settled (inference
    ticket_validity_blocks later).

    Example: race apikey revoke 3fa2... --from validator
    """
    with command_errors(output):
        key_hash = key_hash_of(key)
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [pb.MsgRevokeApiKey(owner=signer, key_hash=key_hash)],
            summary={"action": "revoke api key", "key_hash": key_hash.hex()},
            report_events=(("api_key_revoked", "closes_height", "refund_at_height"),))


@app.command("top-up")
def top_up(
    key: KeyArgument,
    amount: Annotated[str, typer.Argument(help="added to the key's escrow: 1icoin, ...")],
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Add to an active API key's budget.

    Example: race apikey top-up 3fa2... 2icoin --from validator
    """
    with command_errors(output):
        key_hash = key_hash_of(key)
        nicoin = lookups.parse_amount_nicoin(amount, "amount")
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [pb.MsgTopUpApiKey(owner=signer, key_hash=key_hash,
                                                          amount_nicoin=nicoin)],
            summary={"action": "top up api key", "key_hash": key_hash.hex(),
                     "amount": lookups.format_nicoin(nicoin)},
            report_events=(("api_key_topped_up", "budget_nicoin", "budget_nicoin"),))
