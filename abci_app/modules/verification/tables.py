"""Tables of the verification module (docs/verification.md, "State").

Node identity is the operator account (bech32), as in the race, inference and rewards
modules. Ids and hashes are raw bytes.
"""

from sqlalchemy import BigInteger, Boolean, Column, LargeBinary, String, Table

from abci_app.store import METADATA

# epoch -> its audit: status, heights, the verifiers' total weight, the audit's cursor.
EPOCHS = Table(
    "verification_epochs",
    METADATA,
    Column("epoch", BigInteger, primary_key=True),
    Column("status", BigInteger, nullable=False),
    Column("start_height", BigInteger, nullable=False),
    # 0 while the epoch is in progress.
    Column("end_height", BigInteger, nullable=False),
    Column("reveal_end_height", BigInteger, nullable=False),
    Column("total_weight", BigInteger, nullable=False),
    Column("tasks", BigInteger, nullable=False),
    Column("drawn", BigInteger, nullable=False),
    Column("done", BigInteger, nullable=False),
    # The next (settled height, task id) the audit looks at.
    Column("cursor_height", BigInteger, nullable=False),
    Column("cursor_task", LargeBinary, nullable=False),
)

# (epoch, verifier) -> its weight when the epoch started, its seed commitment and reveal,
# and the audit's counts.
VERIFIERS = Table(
    "verification_verifiers",
    METADATA,
    Column("epoch", BigInteger, primary_key=True),
    Column("verifier", String, primary_key=True),
    Column("weight", BigInteger, nullable=False),
    Column("commitment", LargeBinary, nullable=False),
    Column("commit_height", BigInteger, nullable=False),
    Column("seed", LargeBinary, nullable=False),
    Column("drawn", BigInteger, nullable=False),
    Column("done", BigInteger, nullable=False),
    Column("false_flags", BigInteger, nullable=False),
)

# (epoch, verifier, cycle) -> tasks of that cycle it was drawn for and judged, as the
# audit counts them (handed to the rewards rules when the audit ends).
DUTIES = Table(
    "verification_duties",
    METADATA,
    Column("epoch", BigInteger, primary_key=True),
    Column("verifier", String, primary_key=True),
    Column("cycle", BigInteger, primary_key=True),
    Column("drawn", BigInteger, nullable=False),
    Column("done", BigInteger, nullable=False),
)

# (epoch, cycle) -> tasks settled in the epoch while the cycle was in progress.
EPOCH_CYCLES = Table(
    "verification_epoch_cycles",
    METADATA,
    Column("epoch", BigInteger, primary_key=True),
    Column("cycle", BigInteger, primary_key=True),
    Column("tasks", BigInteger, nullable=False),
)

# task id -> a settled task (only tasks that charged something: a free task pays nobody).
TASKS = Table(
    "verification_tasks",
    METADATA,
    Column("task_id", LargeBinary, primary_key=True),
    Column("request_id", LargeBinary, nullable=False),
    Column("ticket_height", BigInteger, nullable=False),
    Column("settled_height", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("cycle", BigInteger, nullable=False),
    Column("executor", String, nullable=False),
    Column("model", String, nullable=False),
    Column("developer", String, nullable=False),
    Column("key_hash", LargeBinary, nullable=False),
    Column("charged", BigInteger, nullable=False),
    Column("prompt_hash", LargeBinary, nullable=False),
    Column("output_commitment", LargeBinary, nullable=False),
    Column("rate_ppm", BigInteger, nullable=False),
    Column("status", BigInteger, nullable=False),
)

# (settled height, task id): the tasks of each block, in the order the audit reads them.
TASKS_BY_HEIGHT = Table(
    "verification_tasks_by_height",
    METADATA,
    Column("settled_height", BigInteger, primary_key=True),
    Column("task_id", LargeBinary, primary_key=True),
)

# (request id, ticket height) -> task id: what a report names.
REQUESTS = Table(
    "verification_requests",
    METADATA,
    Column("request_id", LargeBinary, primary_key=True),
    Column("ticket_height", BigInteger, primary_key=True),
    Column("task_id", LargeBinary, nullable=False),
)

# (task id, verifier) -> its verdict: a check, or a vote in the task's dispute.
CHECKS = Table(
    "verification_checks",
    METADATA,
    Column("task_id", LargeBinary, primary_key=True),
    Column("verifier", String, primary_key=True),
    Column("verdict", BigInteger, nullable=False),
    Column("reason", String, nullable=False),
    Column("height", BigInteger, nullable=False),
    Column("vote", Boolean, nullable=False),
    Column("weight", BigInteger, nullable=False),
)

# task id -> its dispute.
DISPUTES = Table(
    "verification_disputes",
    METADATA,
    Column("task_id", LargeBinary, primary_key=True),
    Column("status", BigInteger, nullable=False),
    Column("opened_height", BigInteger, nullable=False),
    Column("deadline_height", BigInteger, nullable=False),
    Column("eligible_weight", BigInteger, nullable=False),
    Column("pass_weight", BigInteger, nullable=False),
    Column("fail_weight", BigInteger, nullable=False),
    Column("accuser", String, nullable=False),
    Column("reporter", String, nullable=False),
    Column("report_fee", BigInteger, nullable=False),
    Column("closed_height", BigInteger, nullable=False),
    Column("reason", String, nullable=False),
)

# (deadline height, task id): open disputes by deadline.
OPEN_DISPUTES = Table(
    "verification_open_disputes",
    METADATA,
    Column("deadline_height", BigInteger, primary_key=True),
    Column("task_id", LargeBinary, primary_key=True),
)

# verifier -> its lifetime counts.
RECORDS = Table(
    "verification_records",
    METADATA,
    Column("verifier", String, primary_key=True),
    Column("checks", BigInteger, nullable=False),
    Column("failed_checks", BigInteger, nullable=False),
    Column("votes", BigInteger, nullable=False),
    Column("false_flags", BigInteger, nullable=False),
    Column("epochs_audited", BigInteger, nullable=False),
    Column("epochs_skipped", BigInteger, nullable=False),
)

# name -> an integer cursor (keeper.CURSORS). Absent
# means 0.
STATE = Table(
    "verification_state",
    METADATA,
    Column("name", String, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
