"""Queries of the verification module, answered as ``race.v1`` JSON
(proto/race/v1/verification.proto): a task's checks and dispute, the tasks of a block, an
epoch's verifiers, open disputes, a node's record."""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.errors import BAD_QUERY
from abci_app.core.paging import page_request, pagination, scan_page
from abci_app.modules.epochs import keeper as epochs
from abci_app.modules.verification import keeper
from abci_app.modules.verification.errors import TASK_NOT_FOUND, WRONG_EPOCH
from abci_app.modules.verification.tables import OPEN_DISPUTES, TASKS_BY_HEIGHT
from abci_app.tx import is_valid_address
from race_protocol.integers import is_decimal, parse_decimal
from race_protocol.verification.draw import REQUEST_ID_BYTES, TASK_ID_BYTES


def _number(args: list[str], path: str) -> int:
    if len(args) != 1 or not is_decimal(args[0]) or args[0].startswith("-"):
        raise BAD_QUERY(f"use {path}")
    return parse_decimal(args[0])


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BAD_QUERY(f"{what} must be hex") from None


def task_detail(ctx: Context, task: keeper.Task) -> dict[str, Any]:
    dispute = keeper.get_dispute(ctx, task.task_id)
    detail: dict[str, Any] = {
        "task": task.as_json(),
        "checks": [check.as_json() for check in keeper.checks_of(ctx, task.task_id)],
        "disputed": dispute is not None,
    }
    if dispute is not None:
        detail["dispute"] = dispute.as_json()
    return detail


def task(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/verification/task/<hex task id or request id>``: the task (or every kept task of
    the request id), its checks and its dispute (``QueryVerificationTaskResponse``)."""
    if len(args) != 1:
        raise BAD_QUERY("use /verification/task/<hex task id or request id>")
    raw = _hex(args[0], "the id")
    if len(raw) == TASK_ID_BYTES:
        ids = [raw]
    elif len(raw) == REQUEST_ID_BYTES:
        ids = [task_id for _, task_id in keeper.tasks_of_request(ctx, raw)]
    else:
        raise BAD_QUERY(f"give a task id ({TASK_ID_BYTES} bytes) or a request id "
                        f"({REQUEST_ID_BYTES} bytes), in hex")
    found = [entry for entry in (keeper.get_task(ctx, i) for i in ids) if entry is not None]
    if not found:
        raise TASK_NOT_FOUND(f"no settled task {raw.hex()} (never settled, charged nothing, "
                             "or pruned)")
    return {"tasks": [task_detail(ctx, entry) for entry in found]}


def tasks(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/verification/tasks/<height>``: the tasks settled in a block, a page at a time by
    task id (``QueryVerificationTasksResponse``)."""
    height = _number(args, "/verification/tasks/<height>")
    page = page_request(data)
    start = (height, _hex(page.key, "the page key")) if page.key else None
    rows, next_key = scan_page(ctx.table(TASKS_BY_HEIGHT), (height,), start, page.limit)
    found = [keeper.get_task(ctx, bytes(key[1])) for key, _ in rows]
    return {"tasks": [entry.as_json() for entry in found if entry is not None],
            "pagination": pagination(None if next_key is None else bytes(next_key[1]).hex())}


def epoch(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/verification/epoch/<n>``: an epoch's audit and its verifiers (0: the epoch in
    progress) (``QueryVerificationEpochResponse``)."""
    number = _number(args, "/verification/epoch/<epoch> (0 for the epoch in progress)")
    if number == 0:
        number = epochs.current_epoch(ctx).number
    entry = keeper.get_epoch(ctx, number)
    if entry is None:
        raise WRONG_EPOCH(f"no verification record of epoch {number} (not started, or "
                          "pruned)")
    return {"epoch": entry.as_json(),
            "verifiers": [v.as_json() for v in keeper.verifiers(ctx, number)]}


def open_disputes(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/verification/disputes``: open disputes by deadline, a page at a time (the page
    key is ``<deadline>:<hex task id>``) (``QueryDisputesResponse``)."""
    page = page_request(data)
    start = None
    if page.key:
        deadline, _, task_hex = page.key.partition(":")
        if not is_decimal(deadline):
            raise BAD_QUERY("the page key is <deadline>:<hex task id>")
        start = (parse_decimal(deadline), _hex(task_hex, "the page key's task id"))
    rows, next_key = scan_page(ctx.table(OPEN_DISPUTES), (), start, page.limit)
    found = [keeper.get_dispute(ctx, bytes(key[1])) for key, _ in rows]
    return {"disputes": [d.as_json() for d in found if d is not None],
            "pagination": pagination(None if next_key is None
                                     else f"{next_key[0]}:{bytes(next_key[1]).hex()}")}


def verifier(ctx: Context, args: list[str], data: bytes) -> dict[str, Any]:
    """``/verification/verifier/<address>``: a node's lifetime record and its part in the
    epoch in progress (``QueryVerifierResponse``)."""
    if len(args) != 1 or not is_valid_address(args[0]):
        raise BAD_QUERY("use /verification/verifier/<race1... address>")
    address = args[0]
    record = keeper.get_record(ctx, address)
    current = keeper.get_verifier(ctx, epochs.current_epoch(ctx).number, address)
    return {"record": {"verifier": address, **{k: str(v) for k, v in record.items()}},
            "current": current.as_json()}
