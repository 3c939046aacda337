"""``race price``: vote a price per unit of compute and read prices (whitepaper Appendix J)."""

from __future__ import annotations

from typing import Annotated

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
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    print_json,
    rows_table,
    show,
)
from race_protocol.gen.race.v1 import pricing_pb2, query_pb2

app = typer.Typer(
    help="Price votes: providers with voting weight vote a price per unit of compute; at each "
         "epoch's end the weighted median becomes the next epoch's price.\n\n"
         "Examples:\n\n"
         "  race price vote 150nicoin --from validator\n\n"
         "  race price show\n\n"
         "  race price show --voter validator --history 10 --output json",
    no_args_is_help=True,
)


def parse_price(text: str) -> int:
    """``150nicoin``, ``0.2uicoin`` or a bare integer (nicoin) per unit of compute."""
    amount = int(text) if text.isdigit() else lookups.parse_amount_nicoin(text, "price")
    if amount <= 0:
        raise CommandError(f"bad price {text!r}: must be more than zero nicoin")
    return amount


@app.command("vote")
def vote(
    price: Annotated[str, typer.Argument(help="price per unit of compute: 150nicoin, 0.2uicoin, "
                                              "or an integer number of nicoin")],
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Vote (or change your vote for) the price per unit of compute.

    Your vote counts at every epoch end until you vote again; only validator operators with
    voting weight may vote.

    Example: race price vote 150nicoin --from validator
    """
    with command_errors(output):
        nicoin = parse_price(price)
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [pricing_pb2.MsgPriceVote(
                voter=signer, price_per_unit_nicoin=nicoin)],
            summary={"action": "price vote", "price_per_unit_nicoin": str(nicoin),
                     "price": lookups.format_nicoin(nicoin)},
            report_events=(("price_vote", "weight", "weight"),
                           ("price_vote", "counts_at_height", "counts_at_height")))


@app.command("show")
def show_price(
    voter: Annotated[str | None, typer.Option(help="also show this key's or address's "
                                                   "vote")] = None,
    history: Annotated[int, typer.Option(help="also show the last N epochs' prices", min=0)]
        = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show the price per unit of compute in force, and optionally a vote and the history.

    Examples:

      race price show

      race price show --voter validator --history 5 --output json
    """
    with command_errors(output):
        price = as_json(query(home, node, "Price"))
        document = {"price": price}
        if voter:
            address = resolve_address(home, voter)
            document["vote"] = as_json(query(home, node, "PriceVote",
                                             query_pb2.QueryPriceVoteRequest(voter=address)))
            document["vote"]["voter"] = address
        if history:
            document["history"] = as_json(query(
                home, node, "PriceHistory", query_pb2.QueryPriceHistoryRequest(limit=history),
                limit=history))
    if output is OutputFormat.json:
        print_json(document if (voter or history) else price)
        return
    nicoin = int(price["price_per_unit_nicoin"])
    show(output, price, key_value_table("price per unit of compute", [
        ("price", f"{nicoin} nicoin ({lookups.format_nicoin(nicoin)})"),
        ("epoch", price["epoch"]), ("next update at height", price["next_update_height"]),
    ]))
    if voter:
        vote_answer = document["vote"]
        cast = vote_answer.get("vote") or {}
        console.print(key_value_table(f"vote of {vote_answer['voter']}", [
            ("voting weight", vote_answer["weight"]),
            ("vote", f"{cast['price_per_unit_nicoin']} nicoin (cast at height "
                     f"{cast['height']})" if vote_answer["found"]
             else "never voted: counts at the current price"),
        ]))
    if history:
        console.print(rows_table("price history", ["epoch", "price (nicoin)", "from height",
                                                   "voters", "total weight"], [
            (h["epoch"], h["price_per_unit_nicoin"], h["start_height"], h["voters"],
             h["total_weight"]) for h in document["history"]["prices"]]))
