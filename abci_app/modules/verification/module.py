"""The verification module: sampled, auditable checks of settled inference, disputes by
weighted majority and paid user reports (whitepaper section 6; DESIGN.md sections 7.5
and 8; docs/verification.md).

Hooks, wired in :func:`abci_app.wiring.hooks`: ``tickets_settled`` (the inference module's
settlements become tasks) and ``epoch_end`` (an epoch's seeds may be revealed; the next
epoch's verifiers are fixed). Its ``end_block`` closes disputes past their deadline, runs
the audit of the epoch whose reveal window closed (a bounded number of draws per block)
and prunes what is no longer needed, a bounded amount per block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, LargeBinary, String, Table

from abci_app.core.context import Context
from abci_app.core.hooks import SettledTask
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.verification import (
    audit,
    disputes,
    keeper,
    msgs,
    params,
    queries,
    tables,
    tasks,
)
from abci_app.modules.verification.errors import INVALID_GENESIS
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.integers import integer_from_json

# Every table, in the order genesis export writes them.
STATE_TABLES: tuple[Table, ...] = (
    tables.EPOCHS, tables.VERIFIERS, tables.DUTIES, tables.EPOCH_CYCLES, tables.TASKS,
    tables.TASKS_BY_HEIGHT, tables.REQUESTS, tables.CHECKS, tables.DISPUTES,
    tables.OPEN_DISPUTES, tables.RECORDS, tables.STATE)


def _column_json(value: Any, column_type: Any) -> Any:
    if isinstance(column_type, LargeBinary):
        return bytes(value).hex()
    if isinstance(column_type, BigInteger):
        return str(value)
    return value


def _column_value(value: Any, column_type: Any, where: str) -> Any:
    try:
        if isinstance(column_type, LargeBinary):
            return bytes.fromhex(str(value))
        if isinstance(column_type, BigInteger):
            number = integer_from_json(value)
            if not -2**63 <= number < 2**63:
                raise ValueError("out of the 64-bit range")
            return number
        if isinstance(column_type, Boolean):
            if not isinstance(value, bool):
                raise ValueError("not a boolean")
            return value
        if isinstance(column_type, String):
            if not isinstance(value, str):
                raise ValueError("not a string")
            return value
    except ValueError as bad:
        raise INVALID_GENESIS(f"{where}: {bad}") from None
    raise INVALID_GENESIS(f"{where}: unsupported column type")


def export_table(ctx: Context, table: Table) -> list[dict[str, Any]]:
    keys = [c.name for c in table.primary_key.columns]
    return [{**{name: _column_json(key[i], table.c[name].type) for i, name in enumerate(keys)},
             **{name: _column_json(value, table.c[name].type) for name, value in row.items()}}
            for key, row in ctx.table(table).scan()]


def import_table(ctx: Context, table: Table, rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise INVALID_GENESIS(f"{table.name} must be a list of objects")
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in keys]
    for index, item in enumerate(rows):
        if set(item) != set(keys) | set(others):
            raise INVALID_GENESIS(f"{table.name}[{index}] must have the columns "
                                  f"{', '.join(keys + others)}")
        where = f"{table.name}[{index}]"
        key = tuple(_column_value(item[n], table.c[n].type, f"{where}.{n}") for n in keys)
        ctx.table(table).put(key, {n: _column_value(item[n], table.c[n].type, f"{where}.{n}")
                                   for n in others})


class VerificationModule(Module):
    """Verifier seeds and draws, tasks, checks, disputes and reports."""

    name = "verification"
    tables = STATE_TABLES
    params_type = params.VerificationParams
    msg_routes = (
        MsgRoute(pb.MsgCommitVerifierSeed, msgs.validate_basic_commit, msgs.handle_commit),
        MsgRoute(pb.MsgRevealVerifierSeed, msgs.validate_basic_reveal, msgs.handle_reveal),
        MsgRoute(pb.MsgPostVerdicts, msgs.validate_basic_verdicts, msgs.handle_verdicts),
        MsgRoute(pb.MsgReportInference, msgs.validate_basic_report, msgs.handle_report),
    )
    query_routes = (
        QueryRoute("task", queries.task),
        QueryRoute("tasks", queries.tasks),
        QueryRoute("epoch", queries.epoch),
        QueryRoute("disputes", queries.open_disputes),
        QueryRoute("verifier", queries.verifier),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``tables``: the state as :meth:`export_genesis` writes it (one list of rows per
        table). Without it, the epoch in progress starts with the genesis validators as its
        verifiers."""
        dumped = section.get("tables")
        if dumped is None:
            audit.current_audit(ctx)
            return
        if not isinstance(dumped, dict) or set(dumped) - {t.name for t in STATE_TABLES}:
            raise INVALID_GENESIS(f"tables must name only {[t.name for t in STATE_TABLES]}")
        for table in STATE_TABLES:
            import_table(ctx, table, dumped.get(table.name, []))
        audit.current_audit(ctx)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """The whole state, table by table: epochs in audit, tasks, checks and open
        disputes (their report fees are in the reports account) carry over."""
        return {"tables": {table.name: export_table(ctx, table) for table in STATE_TABLES}}

    def end_block(self, ctx: Context) -> None:
        """Close disputes past their deadline, then audit and prune (module docstring)."""
        disputes.close_due(ctx)
        audit.advance(ctx)
        tasks.prune(ctx)

    def after_tickets_settled(self, ctx: Context, executor: str,
                              settled: Sequence[SettledTask]) -> None:
        """Whitepaper section 6: every settled task may be drawn for a check."""
        tasks.after_tickets_settled(ctx, executor, settled)

    def after_epoch_end(self, ctx: Context, epoch: int) -> None:
        """The epoch's seeds may be revealed; the next epoch's verifiers are fixed."""
        audit.after_epoch_end(ctx, epoch)

    def check_invariants(self, ctx: Context) -> list[str]:
        return keeper.broken_invariants(ctx)


MODULE = VerificationModule()
