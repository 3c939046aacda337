"""State access of the verification module: the only code that touches its tables
(docs/verification.md, "State").

What it keeps:

* **Epochs**: one row per epoch, from its first block to the end of its audit: the
  verifiers' total weight (fixed when the epoch starts), the tasks settled in it, the
  audit's status and cursor.
* **Verifiers**: per epoch and node, its weight when the epoch started, its seed
  commitment and (after the epoch) its seed, and the audit's counts.
* **Tasks**: every settled ticket that charged something, with what a check needs (prompt
  hash, output commitment, executor, model) and what a dispute needs (the developer, the
  charge), indexed by settled height (for the audit and the agents) and by request id
  (for reports).
* **Checks** (verdicts, and votes in a dispute) per task and node; **disputes** per task,
  with the open ones indexed by deadline.
* **Records**: per node, lifetime counts for queries.

Invariant (:func:`broken_invariants`): the reports account holds exactly the fees of the
open reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

from abci_app.core import cursors
from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.verification.tables import (
    CHECKS,
    DISPUTES,
    DUTIES,
    EPOCH_CYCLES,
    EPOCHS,
    OPEN_DISPUTES,
    RECORDS,
    REQUESTS,
    STATE,
    TASKS,
    TASKS_BY_HEIGHT,
    VERIFIERS,
)
from abci_app.tx.keys import module_address
from race_protocol.gen.race.v1 import verification_pb2 as pb

REPORTS_MODULE_ACCOUNT = "verification_reports"

OPEN = pb.EPOCH_AUDIT_STATUS_OPEN
REVEALING = pb.EPOCH_AUDIT_STATUS_REVEALING
AUDITING = pb.EPOCH_AUDIT_STATUS_AUDITING
AUDITED = pb.EPOCH_AUDIT_STATUS_AUDITED

SETTLED = pb.TASK_STATUS_SETTLED
DISPUTED = pb.TASK_STATUS_DISPUTED
CAUGHT = pb.TASK_STATUS_CAUGHT
CLEARED = pb.TASK_STATUS_CLEARED
UNDECIDED = pb.TASK_STATUS_UNDECIDED

PASS = pb.VERDICT_PASS
FAIL = pb.VERDICT_FAIL
UNAVAILABLE = pb.VERDICT_UNAVAILABLE

# Cursors in verification_state: the epoch being audited (0: none), the last epoch audited
# (epochs are audited in order).
AUDITING_EPOCH = "auditing_epoch"
AUDITED_THROUGH = "audited_through"
CURSORS = (AUDITING_EPOCH, AUDITED_THROUGH)


@cache
def reports_address() -> str:
    """The module account holding report fees until their dispute closes."""
    return module_address(REPORTS_MODULE_ACCOUNT)


# --- cursors ---------------------------------------------------------------------------------

def state_value(ctx: Context, name: str) -> int:
    return cursors.get(ctx, STATE, name)


def set_state_value(ctx: Context, name: str, value: int) -> None:
    """Write a cursor (0 removes it); an unchanged one is not rewritten."""
    cursors.put(ctx, STATE, name, value)


# --- epochs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EpochAudit:
    """One epoch's row (``race.v1.VerificationEpoch``)."""

    epoch: int
    status: int
    start_height: int
    end_height: int = 0
    reveal_end_height: int = 0
    total_weight: int = 0
    tasks: int = 0
    drawn: int = 0
    done: int = 0
    cursor_height: int = 0
    cursor_task: bytes = b""

    def as_json(self) -> dict[str, Any]:
        return {"epoch": str(self.epoch),
                "status": pb.EpochAuditStatus.Name(self.status),
                "start_height": str(self.start_height), "end_height": str(self.end_height),
                "reveal_end_height": str(self.reveal_end_height),
                "total_weight": str(self.total_weight), "tasks": str(self.tasks),
                "drawn": str(self.drawn), "done": str(self.done)}


def get_epoch(ctx: Context, epoch: int) -> EpochAudit | None:
    row = ctx.table(EPOCHS).get(epoch)
    return None if row is None else EpochAudit(epoch=epoch, **row)


def put_epoch(ctx: Context, entry: EpochAudit) -> EpochAudit:
    ctx.table(EPOCHS).put(entry.epoch, {k: v for k, v in asdict(entry).items()
                                        if k != "epoch"})
    return entry


def update_epoch(ctx: Context, entry: EpochAudit, **changes: Any) -> EpochAudit:
    return put_epoch(ctx, replace(entry, **changes))


def epochs(ctx: Context) -> Iterator[EpochAudit]:
    """Every epoch row, oldest first."""
    for key, row in ctx.table(EPOCHS).scan():
        yield EpochAudit(epoch=int(key[0]), **row)


def delete_epoch(ctx: Context, epoch: int) -> None:
    """Drop an audited epoch's rows: the epoch, its verifiers, duties and cycles."""
    for table in (VERIFIERS, DUTIES, EPOCH_CYCLES):
        for key, _ in list(ctx.table(table).scan(prefix=(epoch,))):
            ctx.table(table).delete(key)
    ctx.table(EPOCHS).delete(epoch)


def add_epoch_cycle(ctx: Context, epoch: int, cycle: int, tasks: int) -> None:
    row = ctx.table(EPOCH_CYCLES).get((epoch, cycle))
    ctx.table(EPOCH_CYCLES).put((epoch, cycle),
                                {"tasks": tasks + (0 if row is None else int(row["tasks"]))})


def epoch_cycles(ctx: Context, epoch: int) -> list[int]:
    """The cycles tasks of ``epoch`` settled in, in order."""
    return [int(key[1]) for key, _ in ctx.table(EPOCH_CYCLES).scan(prefix=(epoch,))]


# --- verifiers -------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifierEpoch:
    """A node's part in one epoch (``race.v1.VerifierEpoch``)."""

    epoch: int
    verifier: str
    weight: int = 0
    commitment: bytes = b""
    commit_height: int = 0
    seed: bytes = b""
    drawn: int = 0
    done: int = 0
    false_flags: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"verifier": self.verifier, "weight": str(self.weight),
                "commitment": self.commitment.hex(), "commit_height": str(self.commit_height),
                "revealed": bool(self.seed), "drawn": str(self.drawn), "done": str(self.done),
                "false_flags": str(self.false_flags)}


def get_verifier(ctx: Context, epoch: int, verifier: str) -> VerifierEpoch:
    """The node's row for ``epoch`` (an empty one when it has none)."""
    row = ctx.table(VERIFIERS).get((epoch, verifier))
    return (VerifierEpoch(epoch, verifier) if row is None
            else VerifierEpoch(epoch=epoch, verifier=verifier, **row))


def has_verifier(ctx: Context, epoch: int, verifier: str) -> bool:
    return ctx.table(VERIFIERS).has((epoch, verifier))


def put_verifier(ctx: Context, entry: VerifierEpoch) -> VerifierEpoch:
    ctx.table(VERIFIERS).put((entry.epoch, entry.verifier),
                             {k: v for k, v in asdict(entry).items()
                              if k not in ("epoch", "verifier")})
    return entry


def verifiers(ctx: Context, epoch: int) -> list[VerifierEpoch]:
    """An epoch's rows (verifiers and committers), by address."""
    return [VerifierEpoch(epoch=epoch, verifier=str(key[1]), **row)
            for key, row in ctx.table(VERIFIERS).scan(prefix=(epoch,))]


def add_duty(ctx: Context, epoch: int, verifier: str, cycle: int, drawn: int,
             done: int) -> None:
    row = ctx.table(DUTIES).get((epoch, verifier, cycle))
    ctx.table(DUTIES).put((epoch, verifier, cycle), {
        "drawn": drawn + (0 if row is None else int(row["drawn"])),
        "done": done + (0 if row is None else int(row["done"]))})


def duties(ctx: Context, epoch: int) -> list[tuple[str, int, int, int]]:
    """(verifier, cycle, drawn, done) the audit counted, by verifier then cycle."""
    return [(str(key[1]), int(key[2]), int(row["drawn"]), int(row["done"]))
            for key, row in ctx.table(DUTIES).scan(prefix=(epoch,))]


# --- tasks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """A settled task (``race.v1.VerificationTask``)."""

    task_id: bytes
    request_id: bytes
    ticket_height: int
    settled_height: int
    epoch: int
    cycle: int
    executor: str
    model: str
    developer: str
    key_hash: bytes
    charged: int
    prompt_hash: bytes
    output_commitment: bytes
    rate_ppm: int
    status: int

    def as_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id.hex(), "request_id": self.request_id.hex(),
                "ticket_height": str(self.ticket_height),
                "settled_height": str(self.settled_height), "epoch": str(self.epoch),
                "cycle": str(self.cycle), "executor": self.executor, "model": self.model,
                "developer": self.developer, "key_hash": self.key_hash.hex(),
                "charged_nicoin": str(self.charged), "prompt_hash": self.prompt_hash.hex(),
                "output_commitment": self.output_commitment.hex(),
                "check_rate_ppm": str(self.rate_ppm),
                "status": pb.TaskStatus.Name(self.status)}


def get_task(ctx: Context, task_id: bytes) -> Task | None:
    row = ctx.table(TASKS).get(task_id)
    return None if row is None else Task(task_id=task_id, **row)


def put_task(ctx: Context, task: Task) -> Task:
    """Write a task; a new one joins the height and request indexes."""
    tasks = ctx.table(TASKS)
    if not tasks.has(task.task_id):
        ctx.table(TASKS_BY_HEIGHT).put((task.settled_height, task.task_id), {})
        ctx.table(REQUESTS).put((task.request_id, task.ticket_height),
                                {"task_id": task.task_id})
    tasks.put(task.task_id, {k: v for k, v in asdict(task).items() if k != "task_id"})
    return task


def set_task_status(ctx: Context, task: Task, status: int) -> Task:
    return put_task(ctx, replace(task, status=status))


def delete_task(ctx: Context, task: Task) -> None:
    """Drop a task, its indexes, checks and dispute."""
    for key, _ in list(ctx.table(CHECKS).scan(prefix=(task.task_id,))):
        ctx.table(CHECKS).delete(key)
    ctx.table(DISPUTES).delete(task.task_id)
    ctx.table(REQUESTS).delete((task.request_id, task.ticket_height))
    ctx.table(TASKS_BY_HEIGHT).delete((task.settled_height, task.task_id))
    ctx.table(TASKS).delete(task.task_id)


def tasks_from(ctx: Context, height: int, task_id: bytes = b"", limit: int | None = None
               ) -> Iterator[tuple[int, bytes]]:
    """(settled height, task id) from ``(height, task_id)`` on, in order."""
    for key, _ in ctx.table(TASKS_BY_HEIGHT).scan(start=(height, task_id), limit=limit):
        yield int(key[0]), bytes(key[1])


def tasks_at(ctx: Context, height: int) -> Iterator[bytes]:
    """Task ids settled in block ``height``, in order."""
    for key, _ in ctx.table(TASKS_BY_HEIGHT).scan(prefix=(height,)):
        yield bytes(key[1])


def tasks_of_request(ctx: Context, request_id: bytes) -> list[tuple[int, bytes]]:
    """(ticket height, task id) of every kept task with this request id."""
    return [(int(key[1]), bytes(row["task_id"]))
            for key, row in ctx.table(REQUESTS).scan(prefix=(request_id,))]


# --- checks ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """A node's verdict on a task (``race.v1.VerificationCheck``)."""

    task_id: bytes
    verifier: str
    verdict: int
    reason: str
    height: int
    vote: bool
    weight: int

    @property
    def passes(self) -> bool:
        return self.verdict == PASS

    def as_json(self) -> dict[str, Any]:
        return {"verifier": self.verifier, "verdict": pb.Verdict.Name(self.verdict),
                "reason": self.reason, "height": str(self.height), "vote": self.vote,
                "weight": str(self.weight)}


def has_check(ctx: Context, task_id: bytes, verifier: str) -> bool:
    return ctx.table(CHECKS).has((task_id, verifier))


def put_check(ctx: Context, check: Check) -> None:
    ctx.table(CHECKS).put((check.task_id, check.verifier), {
        "verdict": check.verdict, "reason": check.reason, "height": check.height,
        "vote": check.vote, "weight": check.weight})


def checks_of(ctx: Context, task_id: bytes) -> list[Check]:
    """A task's verdicts, by verifier address."""
    return [Check(task_id=task_id, verifier=str(key[1]), **row)
            for key, row in ctx.table(CHECKS).scan(prefix=(task_id,))]


# --- disputes --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dispute:
    """A task's re-verification (``race.v1.Dispute``)."""

    task_id: bytes
    status: int
    opened_height: int
    deadline_height: int
    eligible_weight: int
    pass_weight: int = 0
    fail_weight: int = 0
    accuser: str = ""
    reporter: str = ""
    report_fee: int = 0
    closed_height: int = 0
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id.hex(), "status": pb.TaskStatus.Name(self.status),
                "opened_height": str(self.opened_height),
                "deadline_height": str(self.deadline_height),
                "eligible_weight": str(self.eligible_weight),
                "pass_weight": str(self.pass_weight), "fail_weight": str(self.fail_weight),
                "accuser": self.accuser, "reporter": self.reporter,
                "report_fee_nicoin": str(self.report_fee),
                "closed_height": str(self.closed_height), "reason": self.reason}


def get_dispute(ctx: Context, task_id: bytes) -> Dispute | None:
    row = ctx.table(DISPUTES).get(task_id)
    return None if row is None else Dispute(task_id=task_id, **row)


def put_dispute(ctx: Context, dispute: Dispute) -> Dispute:
    """Write a dispute, keeping the open-by-deadline index in step with its status."""
    previous = get_dispute(ctx, dispute.task_id)
    if previous is not None and previous.status == DISPUTED:
        ctx.table(OPEN_DISPUTES).delete((previous.deadline_height, dispute.task_id))
    if dispute.status == DISPUTED:
        ctx.table(OPEN_DISPUTES).put((dispute.deadline_height, dispute.task_id), {})
    ctx.table(DISPUTES).put(dispute.task_id, {k: v for k, v in asdict(dispute).items()
                                              if k != "task_id"})
    return dispute


def open_disputes(ctx: Context, start: tuple[int, bytes] = (0, b""),
                  limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(deadline, task id) of open disputes from ``start`` on, by deadline."""
    for key, _ in ctx.table(OPEN_DISPUTES).scan(start=start, limit=limit):
        yield int(key[0]), bytes(key[1])


def disputes(ctx: Context) -> Iterator[Dispute]:
    for key, row in ctx.table(DISPUTES).scan():
        yield Dispute(task_id=bytes(key[0]), **row)


# --- records ---------------------------------------------------------------------------------

RECORD_FIELDS = ("checks", "failed_checks", "votes", "false_flags", "epochs_audited",
                 "epochs_skipped")


def get_record(ctx: Context, verifier: str) -> dict[str, int]:
    row = ctx.table(RECORDS).get(verifier)
    return {name: 0 if row is None else int(row[name]) for name in RECORD_FIELDS}


def bump_record(ctx: Context, verifier: str, **counts: int) -> None:
    record = get_record(ctx, verifier)
    ctx.table(RECORDS).put(verifier, {name: record[name] + counts.get(name, 0)
                                      for name in RECORD_FIELDS})


# --- the invariant ---------------------------------------------------------------------------

def broken_invariants(ctx: Context) -> list[str]:
    """The reports account holds exactly the fees of the open reports; every open dispute
    is indexed by its deadline."""
    broken = []
    owed = 0
    open_count = 0
    for dispute in disputes(ctx):
        if dispute.status == DISPUTED:
            owed += dispute.report_fee
            open_count += 1
    held = bank.balance(ctx, reports_address())
    if held != owed:
        broken.append(f"the reports account holds {held} nicoin but open reports paid {owed}")
    indexed = sum(1 for _ in open_disputes(ctx))
    if indexed != open_count:
        broken.append(f"{open_count} disputes are open but {indexed} are indexed")
    return broken
