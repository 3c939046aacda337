"""``race beacon``: the randomness beacon's rounds and output (whitepaper Appendix B;
docs/beacon.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from abci_app.modules.beacon.errors import ROUND_NOT_FOUND
from governance.common import as_json, command_errors, query
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    print_json,
    rows_table,
)
from race_node.client.queries import QueryFailed
from race_protocol.gen.race.v1 import query_pb2

app = typer.Typer(
    help="The randomness beacon: rounds of commit, reveal and recovery whose output seeds "
         "everything random on chain.\n\n"
         "Examples:\n\n"
         "  race beacon status\n\n"
         "  race beacon status --round 12 --output json",
    no_args_is_help=True,
)


def _short(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


def _round_table(answer: dict[str, Any]) -> list[Any]:
    entry = answer["round"]
    summary = key_value_table(f"beacon round {entry['round']}", [
        ("status", _short(entry["status"], "BEACON_ROUND_STATUS_")),
        ("commit window", f"blocks {entry['start_height']}-{entry['commit_end_height']}"),
        ("reveal window", f"blocks {int(entry['commit_end_height']) + 1}-"
                          f"{entry['reveal_end_height']}"),
        ("recovery window", f"blocks {int(entry['reveal_end_height']) + 1}-"
                            f"{entry['end_height']}"),
        ("participants", f"{entry['participants']} holding {entry['total_units']} share units "
                         f"(threshold {entry['threshold_units']})"),
        ("deals / reveals / recovered", f"{entry['dealt']} / {entry['revealed']} / "
                                        f"{entry['recovered']}"),
        ("non-revealers", ", ".join(answer["non_revealers"]) or "none"),
        ("excluded (no valid deal)", ", ".join(answer["excluded"]) or "none"),
        ("output", entry["output"] or "not final yet"),
    ])
    members = rows_table("participants", ["address", "weight", "units", "status"], [
        (p["address"], p["weight"], p["units"],
         _short(p["status"], "BEACON_PARTICIPANT_STATUS_")) for p in answer["participants"]])
    return [summary, members]


@app.command("status")
def status(
    round_id: Annotated[int | None, typer.Option(
        "--round", min=1, help="show this round; default: the latest output and the round in "
                               "progress")] = None,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """The latest final output and the round in progress, or one round in full: its status,
    participants, non-revealers and output.

    Examples:

      race beacon status

      race beacon status --round 12 --output json
    """
    with command_errors(output):
        if round_id is not None:
            document: dict[str, Any] = as_json(query(
                home, node, "BeaconRound", query_pb2.QueryBeaconRoundRequest(round=round_id)))
        else:
            latest = as_json(query(home, node, "BeaconLatest"))
            current = None
            if latest["current_round"] != "0":
                try:
                    current = as_json(query(home, node, "BeaconRound",
                                            query_pb2.QueryBeaconRoundRequest(round=0)))
                except QueryFailed as failure:  # the round ended between the two queries
                    if not ROUND_NOT_FOUND.matches(failure.code):
                        raise
            document = {"latest": latest, "current": current}
    if output is OutputFormat.json:
        print_json(document)
        return
    if round_id is not None:
        for table in _round_table(document):
            console.print(table)
        return
    latest = document["latest"]
    console.print(key_value_table("beacon output", [
        ("round", latest["round"] if latest["round"] != "0" else "0 (genesis value)"),
        ("status", _short(latest["status"], "BEACON_ROUND_STATUS_")),
        ("output", latest["output"]),
        ("final at height", latest["final_height"]),
    ]))
    if document["current"] is None:
        console.print("No round in progress: no node with voting weight has registered a "
                      "beacon key yet.")
    else:
        for table in _round_table(document["current"]):
            console.print(table)
