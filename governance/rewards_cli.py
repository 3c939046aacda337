"""``race rewards``, ``race reputation`` and ``race tokenomics``: held rewards and their
release, reputation, and the whitepaper's tokenomics (section 6; Appendices E, F and K;
docs/rewards.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from governance import lookups
from governance.common import as_json, command_errors, limited, query, resolve_address
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    print_json,
    rows_table,
)
from race_protocol.gen.race.v1 import rewards_pb2
from race_protocol.rewards.tokenomics import to_icoin_rounded

app = typer.Typer(
    help="Rewards: what nodes hold until a Race cycle's end, and what its release did.\n\n"
         "Examples:\n\n"
         "  race rewards show\n\n"
         "  race rewards show validator\n\n"
         "  race rewards show race1... --output json",
    no_args_is_help=True,
)

NodeArgument = Annotated[str | None, typer.Argument(
    help="the node: a keyring key name or its race1... operator address; without it, "
         "every node")]


def _coins(amount: str | int) -> str:
    return lookups.format_nicoin(int(amount))


def _icoin(amount: str | int) -> str:
    """Whole icoin, rounded half up, with thousands separators (how the whitepaper writes
    its table)."""
    return f"{to_icoin_rounded(int(amount)):,}"


def _ppm(ppm: str | int) -> str:
    return f"{int(ppm) / 10_000:.2f}%"


@app.command("show")
def show(
    node_name: NodeArgument = None,
    cycle: Annotated[int, typer.Option(
        "--cycle", min=0, help="without NODE: the cycle to show; 0 (default): in progress")] = 0,
    limit: Annotated[int, typer.Option(
        "--limit", min=0, help="without NODE: read at most this many nodes (0: all); when "
                               "more remain, stderr says so")] = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """A node's held rewards per unreleased cycle, its reputation and its recent cycles;
    without NODE, a cycle's rewards: totals, verification pool and each node's outcome.

    Without NODE, the chain answers the nodes a page at a time: this reads every page (or
    the first --limit nodes) into one list, the same JSON document as a single page;
    stderr says when nodes remain.

    Examples:

      race rewards show

      race rewards show --cycle 41

      race rewards show validator

      race rewards show race1... --output json
    """
    if node_name is None:
        _show_cycle(home, node, cycle, limit, output)
        return
    with command_errors(output):
        address = resolve_address(home, node_name)
        document = as_json(query(home, node, "HeldRewards",
                                 rewards_pb2.QueryHeldRewardsRequest(operator=address)))
    if output is OutputFormat.json:
        print_json(document)
        return
    record = document["reputation"]
    console.print(key_value_table(f"rewards of {address}", [
        ("held", _coins(document["held_total_nicoin"])),
        ("reputation", f"{record['reputation']} (clean cycles {record['clean_cycles']}, "
                       f"caught in {record['caught_cycles']})"),
    ]))
    console.print(rows_table("held until release", [
        "cycle", "executor", "verifier", "issuance", "total", "released at the end of"],
        [(h["cycle"], _coins(h["executor_nicoin"]), _coins(h["verifier_nicoin"]),
          _coins(h["issuance_nicoin"]), _coins(h["total_nicoin"]) + (
              " (caught: forfeited)" if h["caught"] else ""),
          f"cycle {h['released_at_cycle']}") for h in document["held"]]))
    console.print(rows_table("recent cycles", [
        "cycle", "weight", "tasks", "checks drawn/done", "outcome", "released", "forfeited"],
        [(h["cycle"], h["weight"], h["tasks"], f"{h['drawn']}/{h['done']}", h["outcome"],
          _coins(h["released"]), _coins(h["forfeited"])) for h in document["history"]]))


def _show_cycle(home: Any, node: str | None, cycle: int, limit: int,
                output: OutputFormat) -> None:
    with command_errors(output):
        document = as_json(query(home, node, "RewardsCycle",
                                 rewards_pb2.QueryRewardsCycleRequest(cycle=cycle),
                                 **limited(limit)))
    if output is OutputFormat.json:
        print_json(document)
        return
    totals = document["totals"]
    console.print(key_value_table(f"rewards of cycle {totals['cycle']}", [
        ("status", "released" if document["released"] else
         f"held until the end of cycle {document['released_at_cycle']}"),
        ("fees", _coins(totals["fees"])),
        ("issuance (fee-driven / minimum)",
         f"{_coins(totals['issuance'])} / {_coins(totals['minimum_issuance'])}"),
        ("held for nodes", _coins(totals["accrued"])),
        ("verification pool", _coins(totals["verification_pool"])),
        ("released / forfeited", f"{_coins(totals['released'])} / "
                                 f"{_coins(totals['forfeited'])}"),
        ("bounties paid", _coins(totals["bounties"])),
        ("tasks", totals["tasks"]),
    ]))
    console.print(rows_table("nodes", [
        "node", "weight", "tasks", "checks drawn/done", "false flags", "outcome", "released",
        "forfeited"],
        [(n["node"], n["weight"], n["tasks"], f"{n['drawn']}/{n['done']}", n["false_flags"],
          n["outcome"], _coins(n["released"]), _coins(n["forfeited"]))
         for n in document["nodes"]]))


def reputation(
    node_name: NodeArgument = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=0, help="without NODE: read at most this many nodes (0: all); when "
                               "more remain, stderr says so")] = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """A node's reputation (clean cycles since its last catch; 0 for a new node); without
    NODE, every node's. Lower reputation means more of its tasks are checked.

    Without NODE, the chain answers a page at a time: this reads every page (or the first
    --limit nodes) into one list, the same JSON document as a single page; stderr says
    when nodes remain.

    Examples:

      race reputation

      race reputation validator

      race reputation race1... --output json
    """
    with command_errors(output):
        if node_name is None:
            document = as_json(query(home, node, "RewardsReputations", **limited(limit)))
            records = document["reputations"]
        else:
            address = resolve_address(home, node_name)
            document = as_json(query(home, node, "RewardsReputation",
                                     rewards_pb2.QueryRewardsReputationRequest(
                                         operator=address)))
            records = [document["reputation"]]
    if output is OutputFormat.json:
        print_json(document)
        return
    console.print(rows_table("reputation", [
        "node", "reputation", "clean cycles", "caught in", "last caught", "false flags"],
        [(r["node"], r["reputation"], r["clean_cycles"], r["caught_cycles"],
          r["last_caught_cycle"] if int(r["last_caught_cycle"]) else "-", r["false_flags"])
         for r in records]))


def tokenomics(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """The whitepaper's tokenomics on this chain: issuance so far, the current batch and
    its subsidy, the minimum issuance, the 12 batches (Appendix F's schedule beside what
    the chain did) and the funds.

    Examples:

      race tokenomics

      race tokenomics --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "Tokenomics"))
    if output is OutputFormat.json:
        print_json(document)
        return
    minimum = document["minimum"]
    console.print(key_value_table(f"tokenomics at height {document['height']}", [
        ("supply / cap", f"{_coins(document['supply_nicoin'])} / "
                         f"{_coins(document['supply_cap_nicoin'])}"),
        ("core incentive issued", f"{_coins(document['issued_nicoin'])} of "
                                  f"{_coins(document['core_incentive_nicoin'])} "
                                  f"({_coins(document['remaining_nicoin'])} left)"),
        ("current batch", f"{document['current_batch']} of 12"),
        ("subsidy share", f"{_ppm(document['subsidy_share_ppm'])} "
                          f"({document['subsidy_share']})"),
        ("minted per coin of fees", document["issuance_ratio"]),
        ("this batch: fees / minted", f"{_coins(document['batch_fees_nicoin'])} / "
                                      f"{_coins(document['batch_minted_nicoin'])}"),
        ("fees since genesis", _coins(document["fees_total_nicoin"])),
        (f"minimum issuance, year {minimum['year']}",
         f"{_coins(minimum['minimum_for_year_nicoin'])} a year; due so far "
         f"{_coins(minimum['due_nicoin'])}, issued this year "
         f"{_coins(minimum['year_issued_nicoin'])}"),
    ]))
    console.print(rows_table("batches (icoin)", [
        "#", "subsidy share", "scheduled fees", "scheduled total", "fees", "subsidy", "total",
        "status"],
        [(b["batch"], _ppm(b["subsidy_share_ppm"]), _icoin(b["scheduled_fees_nicoin"]),
          _icoin(b["scheduled_total_nicoin"]), _icoin(b["fees_nicoin"]),
          _icoin(b["subsidy_nicoin"]), _icoin(b["total_nicoin"]), b["status"])
         for b in document["batches"]]))
    console.print(rows_table("funds", ["fund", "address", "balance", "spent by"],
                             [(f["name"], f["address"], _coins(f["balance_nicoin"]),
                               f["spent_by"]) for f in document["funds"]]))
