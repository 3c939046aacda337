"""``race inference report|task`` and ``race verification``: report a result you believe is
wrong, and see what verifiers did (whitepaper section 6; docs/verification.md).

A report costs ``verification.report_fee_nicoin`` and opens a re-verification by the
weighted majority: if the result is found malicious you get the fee back, the charge back
into your API key and a bounty; if it is found sound the fee pays the verifiers. The
request id is the ``x-race-request-id`` header of the answer (``x-race-ticket-height``
is the height to give when the same id was settled twice).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from governance.common import (
    FeeOption,
    FromOption,
    LimitOption,
    TimeoutOption,
    WaitOption,
    as_json,
    command_errors,
    limited,
    query,
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
    user_errors,
)
from race_node.client.rpc import CometRPC
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.verification.draw import REQUEST_ID_BYTES

inference_app = typer.Typer(
    help="Inference results: report one you believe is wrong, see how it was checked.\n\n"
         "Examples:\n\n"
         "  race inference report 3f9c0d...e1 --from developer\n\n"
         "  race inference task 3f9c0d...e1",
    no_args_is_help=True,
)
app = typer.Typer(
    help="Verification: epochs of verifier seeds and their audit, open disputes, a node's "
         "record.\n\n"
         "Examples:\n\n"
         "  race verification epoch\n\n"
         "  race verification disputes\n\n"
         "  race verification verifier race1...",
    no_args_is_help=True,
)


def _short(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower().replace("_", " ")


def request_id_bytes(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise CommandError(f"{text!r} is not hex; the request id is the x-race-request-id "
                           "header of the answer") from None
    if len(raw) != REQUEST_ID_BYTES:
        raise CommandError(f"a request id is {REQUEST_ID_BYTES} bytes ({2 * REQUEST_ID_BYTES} "
                           f"hex characters), got {len(raw)}")
    return raw


@inference_app.command("report")
def report(
    request_id: Annotated[str, typer.Argument(help="the x-race-request-id of the answer")],
    from_key: FromOption = ...,  # type: ignore[assignment]
    height: Annotated[int, typer.Option(
        "--height", min=0, help="the x-race-ticket-height; needed only when the request id "
                                "was settled more than once")] = 0,
    reason: Annotated[str, typer.Option(help="why, in a few words")] = "",
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Report a result (signed by the API key's owner): it pays the report fee and opens a
    re-verification by the weighted majority.

    Examples:

      race inference report 3f9c0d52aa1e4b7c8d0e9f1a2b3c4d5e --from developer

      race inference report 3f9c... --from developer --reason "not SmolLM2's answer"
    """
    with user_errors(output):
        raw = request_id_bytes(request_id)

    def build(signer: str, rpc: CometRPC) -> list[pb.MsgReportInference]:
        return [pb.MsgReportInference(reporter=signer, request_id=raw, ticket_height=height,
                                      reason=reason)]

    with command_errors(output):
        sign_and_send(home=home, node=node, from_key=from_key, build=build, fee=fee,
                      wait=wait, timeout=timeout, output=output,
                      summary={"request_id": raw.hex()},
                      report_events=(("verification_report", "task_id", "task_id"),
                                     ("verification_report", "fee_nicoin", "report_fee"),
                                     ("verification_dispute_opened", "deadline_height",
                                      "dispute_deadline"),
                                     ("verification_dispute_closed", "outcome", "outcome")))


def _task_tables(detail: dict[str, Any]) -> None:
    task = detail["task"]
    console.print(key_value_table(f"task {task['task_id']}", [
        ("request", f"{task['request_id']} (ticket height {task['ticket_height']})"),
        ("status", _short(task["status"], "TASK_STATUS_")),
        ("executor", task["executor"]),
        ("model", task["model"]),
        ("developer", task["developer"]),
        ("charged", f"{task['charged_nicoin']} nicoin"),
        ("settled", f"block {task['settled_height']} (epoch {task['epoch']}, cycle "
                    f"{task['cycle']})"),
        ("check rate", f"{int(task['check_rate_ppm']) / 1_000_000:.2f} expected checks"),
    ]))
    if detail["checks"]:
        console.print(rows_table("verdicts", ["node", "verdict", "as", "weight", "block",
                                              "reason"],
                                 [(c["verifier"], _short(c["verdict"], "VERDICT_"),
                                   "vote" if c["vote"] else "check", c["weight"], c["height"],
                                   c["reason"] or "-") for c in detail["checks"]]))
    if detail["disputed"]:
        dispute = detail["dispute"]
        console.print(key_value_table("dispute", [
            ("status", _short(dispute["status"], "TASK_STATUS_")),
            ("opened / deadline", f"block {dispute['opened_height']} / "
                                  f"{dispute['deadline_height']}"),
            ("fail / pass / eligible weight", f"{dispute['fail_weight']} / "
                                              f"{dispute['pass_weight']} / "
                                              f"{dispute['eligible_weight']}"),
            ("accuser", dispute["accuser"] or "-"),
            ("reporter", dispute["reporter"] or "-"),
        ]))


@inference_app.command("task")
def task(
    task_or_request_id: Annotated[str, typer.Argument(
        help="a task id, or a request id (x-race-request-id)")],
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """A settled task: who executed it, what it was charged, its verdicts and dispute.

    Examples:

      race inference task 3f9c0d52aa1e4b7c8d0e9f1a2b3c4d5e

      race inference task 3f9c... --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "VerificationTask",
                                 pb.QueryVerificationTaskRequest(id=task_or_request_id)))
    if output is OutputFormat.json:
        print_json(document)
        return
    for detail in document["tasks"]:
        _task_tables(detail)


@app.command("epoch")
def epoch(
    number: Annotated[int, typer.Argument(min=0, help="the epoch; 0: the epoch in progress")
                      ] = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """An epoch's verifiers: weight, seed committed and revealed, tasks drawn and checked.

    Examples:

      race verification epoch

      race verification epoch 12 --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "VerificationEpoch",
                                 pb.QueryVerificationEpochRequest(epoch=number)))
    if output is OutputFormat.json:
        print_json(document)
        return
    entry = document["epoch"]
    last = entry["end_height"] if int(entry["end_height"]) else "..."
    console.print(key_value_table(f"verification epoch {entry['epoch']}", [
        ("status", _short(entry["status"], "EPOCH_AUDIT_STATUS_")),
        ("blocks", f"{entry['start_height']}-{last}"),
        ("reveals due by", f"block {entry['reveal_end_height']}"
         if int(entry["reveal_end_height"]) else "-"),
        ("tasks", entry["tasks"]),
        ("drawn / done", f"{entry['drawn']} / {entry['done']}"),
        ("verifiers' weight", entry["total_weight"]),
    ]))
    console.print(rows_table(
        "verifiers", ["node", "weight", "committed at", "revealed", "drawn", "done",
                      "false flags"],
        [(v["verifier"], v["weight"], v["commit_height"] if v["commitment"] else "-",
          "yes" if v["revealed"] else "no", v["drawn"], v["done"], v["false_flags"])
         for v in document["verifiers"]]))


@app.command("disputes")
def disputes(
    limit: LimitOption = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Open disputes, by deadline: the task, who raised it and the weight so far.

    The chain answers a page at a time: this reads every page (or the first --limit
    entries) into one list, the same JSON document as a single page; stderr says when
    entries remain.

    Examples:

      race verification disputes --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "Disputes", **limited(limit)))
    if output is OutputFormat.json:
        print_json(document)
        return
    console.print(rows_table(
        "open disputes", ["task", "deadline", "fail", "pass", "eligible", "raised by"],
        [(d["task_id"][:16] + "...", d["deadline_height"], d["fail_weight"], d["pass_weight"],
          d["eligible_weight"], d["reporter"] or d["accuser"]) for d in document["disputes"]]))


@app.command("verifier")
def verifier(
    address: Annotated[str, typer.Argument(help="the node's race1... operator account")],
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """A node's verification record: checks, votes, false flags, epochs audited and
    skipped, and its part in the epoch in progress.

    Examples:

      race verification verifier race1qz...
    """
    with command_errors(output):
        document = as_json(query(home, node, "Verifier",
                                 pb.QueryVerifierRequest(verifier=address)))
    if output is OutputFormat.json:
        print_json(document)
        return
    record, current = document["record"], document["current"]
    console.print(key_value_table(f"verifier {address}", [
        ("checks (failed)", f"{record['checks']} ({record['failed_checks']})"),
        ("dispute votes", record["votes"]),
        ("false flags", record["false_flags"]),
        ("epochs audited / skipped", f"{record['epochs_audited']} / "
                                     f"{record['epochs_skipped']}"),
        ("this epoch", f"weight {current['weight']}, seed "
                       + ("committed" if current["commitment"] else "not committed")),
    ]))
