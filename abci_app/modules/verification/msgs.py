"""The verification module's messages (docs/verification.md, "Messages"). Each is checked
statelessly first (addresses, sizes, enums), then against the state; every refusal has
its own code and a refused message changes nothing.

* ``MsgCommitVerifierSeed``: a weighted node's seed commitment for this epoch or the next.
* ``MsgRevealVerifierSeed``: the seed, after the epoch, within its reveal window.
* ``MsgPostVerdicts``: checks and dispute votes, batched.
* ``MsgReportInference``: a developer's paid report of a task.
"""

from __future__ import annotations

from abci_app.core.context import Context
from abci_app.modules.verification import audit, disputes
from abci_app.modules.verification.errors import (
    INVALID_ADDRESS,
    INVALID_COMMITMENT,
    INVALID_REQUEST_ID,
    INVALID_VERDICT,
    NO_VERDICTS,
    SIGNER_MISMATCH,
    TOO_MANY_VERDICTS,
    WRONG_EPOCH,
)
from abci_app.modules.verification.params import MAX_VERDICTS_PER_MSG
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.verification.draw import (
    COMMITMENT_BYTES,
    REQUEST_ID_BYTES,
    SEED_BYTES,
    TASK_ID_BYTES,
)

MAX_REASON_CHARS = 160
MAX_HEIGHT = 2**63 - 1
VERDICTS = (pb.VERDICT_PASS, pb.VERDICT_FAIL, pb.VERDICT_UNAVAILABLE)


def _address(value: str, what: str) -> None:
    if not is_valid_address(value):
        raise INVALID_ADDRESS(f"{what} {value!r} is not a race1... address")


def _signer(ctx: Context, value: str, what: str) -> None:
    if ctx.signer != value:
        raise SIGNER_MISMATCH(f"{what} is {value} but the tx is signed by {ctx.signer}")


def _epoch(epoch: int) -> None:
    if not 1 <= epoch <= MAX_HEIGHT:
        raise WRONG_EPOCH(f"epoch {epoch}: epochs are numbered from 1")


def _reason(reason: str, what: str) -> None:
    if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise INVALID_VERDICT(f"{what} must be at most {MAX_REASON_CHARS} printable "
                              "characters")


# --- seeds -----------------------------------------------------------------------------------

def validate_basic_commit(msg: pb.MsgCommitVerifierSeed) -> None:
    _address(msg.verifier, "verifier")
    _epoch(msg.epoch)
    if len(msg.commitment) != COMMITMENT_BYTES:
        raise INVALID_COMMITMENT(f"the commitment is the {COMMITMENT_BYTES}-byte "
                                 f"seed_commitment(seed), got {len(msg.commitment)} bytes")


def handle_commit(ctx: Context, msg: pb.MsgCommitVerifierSeed) -> None:
    _signer(ctx, msg.verifier, "verifier")
    audit.commit_seed(ctx, msg.verifier, msg.epoch, bytes(msg.commitment))


def validate_basic_reveal(msg: pb.MsgRevealVerifierSeed) -> None:
    _address(msg.verifier, "verifier")
    _epoch(msg.epoch)
    if len(msg.seed) != SEED_BYTES:
        raise INVALID_COMMITMENT(f"a seed is a {SEED_BYTES}-byte ed25519 signature, got "
                                 f"{len(msg.seed)} bytes")


def handle_reveal(ctx: Context, msg: pb.MsgRevealVerifierSeed) -> None:
    _signer(ctx, msg.verifier, "verifier")
    audit.reveal_seed(ctx, msg.verifier, msg.epoch, bytes(msg.seed))


# --- verdicts --------------------------------------------------------------------------------

def validate_basic_verdicts(msg: pb.MsgPostVerdicts) -> None:
    """At least one verdict and at most any params allow; each names a task id once, with
    a verdict and a short reason."""
    _address(msg.verifier, "verifier")
    if not msg.verdicts:
        raise NO_VERDICTS("add the verdicts to post")
    if len(msg.verdicts) > MAX_VERDICTS_PER_MSG:
        raise TOO_MANY_VERDICTS(f"{len(msg.verdicts)} verdicts; at most "
                                f"{MAX_VERDICTS_PER_MSG} whatever the params")
    seen: set[bytes] = set()
    for index, item in enumerate(msg.verdicts):
        task_id = bytes(item.task_id)
        if len(task_id) != TASK_ID_BYTES:
            raise INVALID_VERDICT(f"verdict {index}: a task id is {TASK_ID_BYTES} bytes")
        if task_id in seen:
            raise INVALID_VERDICT(f"verdict {index}: task {task_id.hex()} is judged twice")
        seen.add(task_id)
        if item.verdict not in VERDICTS:
            raise INVALID_VERDICT(f"verdict {index}: the verdict must be PASS, FAIL or "
                                  "UNAVAILABLE")
        _reason(item.reason, f"verdict {index}'s reason")


def handle_verdicts(ctx: Context, msg: pb.MsgPostVerdicts) -> None:
    _signer(ctx, msg.verifier, "verifier")
    disputes.post_verdicts(ctx, msg.verifier, msg.verdicts)


# --- reports ---------------------------------------------------------------------------------

def validate_basic_report(msg: pb.MsgReportInference) -> None:
    _address(msg.reporter, "reporter")
    if len(msg.request_id) != REQUEST_ID_BYTES:
        raise INVALID_REQUEST_ID(f"a request id is {REQUEST_ID_BYTES} bytes (32 hex "
                                 "characters, the x-race-request-id header)")
    if msg.ticket_height < 0:
        raise INVALID_REQUEST_ID("ticket_height must be 0 (any) or a height")
    _reason(msg.reason, "the reason")


def handle_report(ctx: Context, msg: pb.MsgReportInference) -> None:
    _signer(ctx, msg.reporter, "reporter")
    disputes.report(ctx, msg.reporter, bytes(msg.request_id), msg.ticket_height, msg.reason)
