"""The verifier duty: a weighted node's part in checking other nodes' inference (whitepaper
section 6; DESIGN.md section 7.5; docs/verification.md).

On each height, acting on the latest state:

* **Seeds.** For the epoch in progress and the next, a weighted node commits to its seed
  (``MsgCommitVerifierSeed``): its operator key's ed25519 signature over the chain id and
  the epoch (race_protocol.verification.draw.seed_message), committed by its hash. Once an
  epoch has ended it reveals the seed (``MsgRevealVerifierSeed``) within the reveal window.
* **The draw.** Each settled task is announced by a ``verification_task`` event. The node
  recomputes, exactly as the chain's audit will, whether its seed draws it for the task
  (:class:`EpochView`), and queues a check when it does.
* **Disputes.** Each ``verification_dispute_opened`` event queues a vote, when the node has
  weight and is not the executor.
* **The check.** In the background, at most :data:`MAX_CONCURRENT_CHECKS` at a time: the
  transcript is fetched from the executor's endpoint (``race.v1.Executor/Transcript``,
  signed with the operator key); it must hash to the ticket's prompt hash and the settled
  output commitment; every choice is replayed in one prefill on this node's sidecar
  (``Replay``, the model's calibrated thresholds). A refusal or a timeout, after
  :data:`FETCH_ATTEMPTS` tries, is the verdict ``UNAVAILABLE``.
* **Verdicts** are posted in batches (``MsgPostVerdicts``) through the journal, keyed by
  height, so a restart never posts one twice; a batch the chain refuses loses the verdict
  its log names ("verdict N") and the rest go in the next batch.

Everything the duty has not finished (queued checks, verdicts not yet in a block, its
commitments) is kept in ``HOME/agent/verification/state.json``, so a restarted agent
carries on. A node that is catching up does nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from race_node.agent.duties import AgentServices, BlockContext, BlockHandler, ChainEvent
from race_node.client.broadcast import Signer, Submission
from race_node.client.queries import ChainQueries, QueryFailed
from race_node.client.sidecar import SidecarClient, SidecarError
from race_protocol.gen.race.v1 import inference_pb2, inference_pb2_grpc, query_pb2
from race_protocol.gen.race.v1 import sidecar_pb2 as sidecar
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.inference.ticket import output_commitment, prompt_hash
from race_protocol.verification.access import transcript_request_bytes
from race_protocol.verification.draw import chance_ppm, is_drawn, seed_commitment, seed_message

log = logging.getLogger("race.agent.verifier")

VERIFICATION_DIR = "verification"
STATE_FILE = "state.json"
MAX_CONCURRENT_CHECKS = 2
FETCH_TIMEOUT_S = 15.0
REPLAY_TIMEOUT_S = 300.0
# Tries before a transcript the executor refuses or does not send counts as unavailable,
# and the seconds between them.
FETCH_ATTEMPTS = 3
RETRY_AFTER_S = 4.0
VERDICTS_PER_TX = 100
# Ended epochs looked at for a seed still to reveal, newest first.
MAX_REVEAL_LOOKBACK_EPOCHS = 64
MAX_REASON_CHARS = 160
# Verdicts remembered as posted, so an event seen again (a restart) is not checked twice.
REMEMBERED_TASKS = 20_000
VERDICT_INDEX = re.compile(r"verdict (\d+)")
_RETRY = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.RESOURCE_EXHAUSTED})


def seed_for(signer: Signer, chain_id: str, epoch: int) -> bytes:
    """This node's seed for ``epoch``: its operator key's signature over the seed message."""
    return signer.private_key.sign(seed_message(chain_id, epoch))


@dataclass(frozen=True)
class EpochView:
    """An epoch's verifiers as the chain fixed them: what a draw needs."""

    epoch: int
    total_weight: int
    weights: dict[str, int]
    commit_heights: dict[str, int]

    @classmethod
    def of(cls, answer: pb.QueryVerificationEpochResponse) -> EpochView:
        return cls(epoch=int(answer.epoch.epoch), total_weight=int(answer.epoch.total_weight),
                   weights={v.verifier: int(v.weight) for v in answer.verifiers if v.weight},
                   commit_heights={v.verifier: int(v.commit_height) for v in answer.verifiers
                                   if v.commitment})

    def drawn(self, verifier: str, seed: bytes, task_id: bytes, executor: str, rate_ppm: int,
              settled_height: int) -> bool:
        """Whether ``verifier`` (holding ``seed``) must check the task: the chain's audit rule
        (abci_app/modules/verification/audit.py), computed from public data and the seed."""
        weight = self.weights.get(verifier, 0)
        committed = self.commit_heights.get(verifier)
        if weight <= 0 or committed is None or committed >= settled_height or \
                verifier == executor:
            return False
        eligible = self.total_weight - self.weights.get(executor, 0)
        chance = chance_ppm(rate_ppm, weight, eligible)
        return chance > 0 and is_drawn(seed, task_id, chance)


@dataclass
class Job:
    """A task to check (or to vote on, in its dispute)."""

    task_id: str
    executor: str
    model: str
    ticket_height: int
    request_id: str
    vote: bool = False
    attempts: int = 0
    not_before: float = 0.0


@dataclass
class VerifierState:
    """What the duty keeps across restarts (``HOME/agent/verification/state.json``)."""

    chain_id: str = ""
    jobs: list[Job] = field(default_factory=list)
    # Verdicts not yet in a batch: [task id hex, verdict, reason].
    pending: list[list[Any]] = field(default_factory=list)
    # Batches submitted and not yet seen committed: journal key -> verdicts.
    posted: dict[str, list[list[Any]]] = field(default_factory=dict)
    # Task ids judged (or being judged), most recent last.
    judged: list[str] = field(default_factory=list)
    checks: int = 0
    failed: int = 0


class VerifierLedger:
    """The state file in ``HOME/agent/verification/`` (0700; written atomically)."""

    def __init__(self, agent_dir: Path) -> None:
        self.path = agent_dir / VERIFICATION_DIR / STATE_FILE

    def load(self, chain_id: str) -> VerifierState:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return VerifierState(chain_id=chain_id)
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): starting afresh", self.path, exc)
            return VerifierState(chain_id=chain_id)
        if document.get("chain_id") != chain_id:
            return VerifierState(chain_id=chain_id)
        jobs = [Job(**job) for job in document.pop("jobs", [])]
        return VerifierState(**{**document, "jobs": jobs})

    def save(self, state: VerifierState) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w") as handle:
            handle.write(json.dumps(asdict(state), sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)


def verdicts_message(verifier: str, verdicts: list[list[Any]]) -> pb.MsgPostVerdicts:
    return pb.MsgPostVerdicts(verifier=verifier, verdicts=[
        pb.TaskVerdict(task_id=bytes.fromhex(task), verdict=int(verdict), reason=str(reason))
        for task, verdict, reason in verdicts])


def _reason(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    return printable[:MAX_REASON_CHARS]


def replay_requests(request: sidecar.GenerateRequest, output: sidecar.GenerateResponse,
                    model: str) -> list[sidecar.ReplayRequest]:
    """One Replay per choice, against this sidecar's ``model``. A choice cut short (the
    relay went away: no finish reason) is judged as stopped by length where it ends."""
    replays = []
    for choice in output.choices:
        replay = sidecar.ReplayRequest(model=model, output_token_ids=choice.token_ids,
                                       output_logprobs=choice.logprobs,
                                       finish_reason=choice.finish_reason)
        if request.HasField("chat"):
            replay.chat.CopyFrom(request.chat)
        else:
            replay.prompt = request.prompt
        replay.sampling.CopyFrom(request.sampling)
        if not choice.finish_reason:
            replay.finish_reason = "length"
            replay.sampling.max_tokens = len(choice.token_ids)
        replays.append(replay)
    return replays


class Verifier:
    """One node's verifier duty (module docstring). The steps are methods, so a variant
    (tests/faults/) can change one without a switch in this code: :meth:`judge`."""

    def __init__(self, agent_dir: Path, signer: Signer) -> None:
        self.ledger = VerifierLedger(agent_dir)
        self.signer = signer
        self.state: VerifierState | None = None
        self.chain_id: str | None = None
        self._saved = ""
        self._epochs: dict[int, EpochView] = {}
        # The height each epoch's view was read at (read again at most once a block while
        # it lacks this node's commitment).
        self._read_at: dict[int, int] = {}
        self._height = 0
        self._running: dict[str, asyncio.Task[None]] = {}
        self._reported: set[str] = set()
        # Ended epochs this node has nothing (more) to reveal for.
        self._reveals_done: set[int] = set()
        # Epochs below this one are past their reveal window.
        self._reveal_floor = 0

    # --- the height ----------------------------------------------------------------------

    async def on_block(self, block: BlockContext) -> None:
        agent = block.agent
        status = await asyncio.to_thread(agent.rpc.status)
        self.chain_id = str(status["node_info"]["network"])
        if self.state is None or self.state.chain_id != self.chain_id:
            self.state = await asyncio.to_thread(self.ledger.load, self.chain_id)
        if status.get("sync_info", {}).get("catching_up"):
            return
        self._height = block.height
        queries = ChainQueries(agent.rpc)
        me = agent.operator_address
        validators = await asyncio.to_thread(queries.validators)
        weighted = any(v.operator == me and v.power > 0 for v in validators)
        epoch_answer = await asyncio.to_thread(queries.call, "Epoch")
        assert isinstance(epoch_answer, query_pb2.QueryEpochResponse)
        epoch = int(epoch_answer.epoch.number)
        if weighted:
            await self._commit(agent, epoch)
            await self._commit(agent, epoch + 1)
        await self._reveal(agent, queries, epoch)
        await self._queue(agent, queries, block, weighted)
        self._start_checks(agent)
        await self._post(agent, block.height)
        await self._save()

    async def _save(self) -> None:
        assert self.state is not None
        current = json.dumps(asdict(self.state), sort_keys=True)
        if current != self._saved:
            await asyncio.to_thread(self.ledger.save, self.state)
            self._saved = current

    # --- seeds ---------------------------------------------------------------------------

    async def _commit(self, agent: AgentServices, epoch: int) -> None:
        assert self.chain_id is not None
        commitment = seed_commitment(seed_for(self.signer, self.chain_id, epoch))
        key = f"verification/seed/{epoch}"
        self._report(key, f"epoch {epoch} seed commitment", await agent.submit_once(
            key, [pb.MsgCommitVerifierSeed(verifier=agent.operator_address, epoch=epoch,
                                           commitment=commitment)]))

    async def _reveal(self, agent: AgentServices, queries: ChainQueries, epoch: int) -> None:
        """Reveal the seeds of ended epochs still in their reveal window: every one back to
        the newest whose window has closed (a node back from downtime may owe several)."""
        assert self.chain_id is not None
        for ended in range(epoch - 1, max(0, epoch - 1 - MAX_REVEAL_LOOKBACK_EPOCHS), -1):
            if ended < self._reveal_floor:
                break
            if ended in self._reveals_done:
                continue
            answer = await self._epoch_answer(queries, ended)
            if answer is None or answer.epoch.status == pb.EPOCH_AUDIT_STATUS_OPEN:
                continue
            if answer.epoch.status != pb.EPOCH_AUDIT_STATUS_REVEALING:
                # Its window has closed, and every older epoch's closed before it.
                self._reveals_done.add(ended)
                self._reveal_floor = ended + 1
                break
            mine = next((v for v in answer.verifiers
                         if v.verifier == agent.operator_address), None)
            if mine is None or not mine.commitment or mine.revealed:
                # Nothing to reveal, now or later: not read again.
                self._reveals_done.add(ended)
                continue
            key = f"verification/reveal/{ended}"
            seed = seed_for(self.signer, self.chain_id, ended)
            self._report(key, f"epoch {ended} seed reveal", await agent.submit_once(
                key, [pb.MsgRevealVerifierSeed(verifier=agent.operator_address, epoch=ended,
                                               seed=seed)]))

    @staticmethod
    async def _epoch_answer(queries: ChainQueries, epoch: int
                            ) -> pb.QueryVerificationEpochResponse | None:
        try:
            answer = await asyncio.to_thread(
                queries.call, "VerificationEpoch",
                pb.QueryVerificationEpochRequest(epoch=epoch))
        except QueryFailed as failure:
            if failure.unreachable:
                raise
            return None
        assert isinstance(answer, pb.QueryVerificationEpochResponse)
        return answer

    async def epoch_view(self, queries: ChainQueries, epoch: int, me: str) -> EpochView | None:
        """The epoch's verifiers: kept once this node's commitment is in it, else read again
        at most once a block."""
        view = self._epochs.get(epoch)
        if view is not None and (me in view.commit_heights
                                 or self._read_at.get(epoch) == self._height):
            return view
        answer = await self._epoch_answer(queries, epoch)
        if answer is None:
            return None
        view = self._epochs[epoch] = EpochView.of(answer)
        self._read_at[epoch] = self._height
        for old in [e for e in self._epochs if e < epoch - 2]:
            del self._epochs[old]
            self._read_at.pop(old, None)
        return view

    # --- what to check -------------------------------------------------------------------

    async def _queue(self, agent: AgentServices, queries: ChainQueries, block: BlockContext,
                     weighted: bool) -> None:
        assert self.state is not None and self.chain_id is not None
        me = agent.operator_address
        judged = set(self.state.judged)
        for event in block.events:
            if event.type == "verification_task" and event.tx_code == 0:
                job = self._job(event)
                if job.task_id in judged or job.executor == me:
                    continue
                view = await self.epoch_view(queries, int(event.attributes["epoch"]), me)
                seed = seed_for(self.signer, self.chain_id, int(event.attributes["epoch"]))
                if view is not None and view.drawn(
                        me, seed, bytes.fromhex(job.task_id), job.executor,
                        int(event.attributes["check_rate_ppm"]), block.height):
                    self._add(job, judged)
            elif event.type == "verification_dispute_opened" and weighted:
                job = self._job(event, vote=True)
                if job.task_id not in judged and job.executor != me:
                    self._add(job, judged)

    @staticmethod
    def _job(event: ChainEvent, vote: bool = False) -> Job:
        attributes = event.attributes
        return Job(task_id=attributes["task_id"], executor=attributes["executor"],
                   model=attributes["model"], ticket_height=int(attributes["ticket_height"]),
                   request_id=attributes["request_id"], vote=vote)

    def _add(self, job: Job, judged: set[str]) -> None:
        assert self.state is not None
        self.state.jobs.append(job)
        self.state.judged.append(job.task_id)
        judged.add(job.task_id)
        del self.state.judged[:-REMEMBERED_TASKS]
        log.info("%s task %s of %s (request %s)", "vote on" if job.vote else "check",
                 job.task_id[:16], job.executor, job.request_id)

    # --- checking ------------------------------------------------------------------------

    def _start_checks(self, agent: AgentServices) -> None:
        assert self.state is not None
        now = time.time()
        for job in list(self.state.jobs):
            if len(self._running) >= MAX_CONCURRENT_CHECKS:
                return
            if job.task_id in self._running or job.not_before > now:
                continue
            self._running[job.task_id] = asyncio.create_task(
                self._run(agent, job), name=f"check-{job.task_id[:12]}")

    async def _run(self, agent: AgentServices, job: Job) -> None:
        assert self.state is not None
        try:
            verdict = await self.judge(agent, job)
        except Exception:
            log.exception("checking task %s failed; trying again later", job.task_id)
            job.not_before = time.time() + RETRY_AFTER_S
            verdict = None
        finally:
            self._running.pop(job.task_id, None)
        if verdict is None:
            return
        if job in self.state.jobs:
            self.state.jobs.remove(job)
        code, reason = verdict
        self.state.pending.append([job.task_id, code, _reason(reason)])
        self.state.checks += 1
        if code != pb.VERDICT_PASS:
            self.state.failed += 1
        level = logging.INFO if code == pb.VERDICT_PASS else logging.WARNING
        log.log(level, "task %s of %s: %s %s", job.task_id[:16], job.executor,
                pb.Verdict.Name(code), reason)

    async def judge(self, agent: AgentServices, job: Job) -> tuple[int, str] | None:
        """The verdict on ``job``'s task, or None to try again later (or to drop it: the
        task is gone, or this node cannot replay the model)."""
        sidecar_client = agent.sidecar
        if sidecar_client is None:
            return self._drop(job, "no sidecar configured: this node cannot replay")
        queries = ChainQueries(agent.rpc)
        try:
            detail = await asyncio.to_thread(queries.call, "VerificationTask",
                                             pb.QueryVerificationTaskRequest(id=job.task_id))
        except QueryFailed as failure:
            if failure.unreachable:
                job.not_before = time.time() + RETRY_AFTER_S
                return None
            return self._drop(job, f"the chain no longer has the task ({failure.log})")
        assert isinstance(detail, pb.QueryVerificationTaskResponse)
        task = detail.tasks[0].task
        try:
            model = await self._sidecar_model(sidecar_client, job.model)
        except SidecarError as away:
            # Away (restarting, or its engine still loading) is not "cannot replay": the
            # check is only put off, so a drawn task is not skipped for a passing outage.
            log.info("task %s: the sidecar does not answer (%s); trying again later",
                     job.task_id[:16], away)
            job.not_before = time.time() + RETRY_AFTER_S
            return None
        if model is None:
            return self._drop(job, f"this node's sidecar does not serve {job.model!r}")
        fetched = await self._fetch(agent, queries, job)
        if fetched is None:
            return None
        if isinstance(fetched, str):
            return pb.VERDICT_UNAVAILABLE, fetched
        if prompt_hash(fetched.request) != bytes.fromhex(task.prompt_hash):
            return pb.VERDICT_FAIL, "the transcript's request is not the ticket's prompt"
        if output_commitment(list(fetched.output.choices)) != \
                bytes.fromhex(task.output_commitment):
            return pb.VERDICT_FAIL, "the transcript is not the output the executor settled"
        for replay in replay_requests(fetched.request, fetched.output, model):
            try:
                answer = await sidecar_client.replay(replay, timeout=REPLAY_TIMEOUT_S)
            except SidecarError as exc:
                if exc.code is grpc.StatusCode.INVALID_ARGUMENT:
                    return pb.VERDICT_FAIL, f"the transcript cannot be replayed: {exc}"
                job.not_before = time.time() + RETRY_AFTER_S
                return None
            if not answer.accepted:
                return pb.VERDICT_FAIL, f"replay: {answer.reason}"
        return pb.VERDICT_PASS, ""

    def _drop(self, job: Job, why: str) -> None:
        """Give ``job`` up (logged): no verdict will be posted for it."""
        assert self.state is not None
        if job in self.state.jobs:
            self.state.jobs.remove(job)
        log.warning("task %s: not checked: %s", job.task_id[:16], why)
        return None

    @staticmethod
    async def _sidecar_model(client: SidecarClient, registry_id: str) -> str | None:
        """The sidecar's name for ``registry_id``, None when it does not serve it; raises
        SidecarError when the sidecar does not answer."""
        served = await client.list_models()
        return next((m.name for m in served if m.name.lower() == registry_id), None)

    async def _fetch(self, agent: AgentServices, queries: ChainQueries, job: Job
                     ) -> inference_pb2.TranscriptResponse | str | None:
        """The transcript; a string (why) once the executor has refused or not answered
        :data:`FETCH_ATTEMPTS` times; None to try again later."""
        assert self.chain_id is not None
        endpoint = await self._endpoint(queries, job)
        job.attempts += 1
        if endpoint is None:
            why = f"{job.executor} lists no executor endpoint for {job.model!r}"
        else:
            request_id = bytes.fromhex(job.request_id)
            signature = self.signer.private_key.sign(transcript_request_bytes(
                self.chain_id, job.ticket_height, request_id, agent.operator_address))
            request = inference_pb2.TranscriptRequest(
                ticket_height=job.ticket_height, request_id=request_id,
                verifier=agent.operator_address, signature=signature)
            try:
                async with grpc.aio.insecure_channel(endpoint, options=[
                        ("grpc.max_receive_message_length", 64 * 1024 * 1024)]) as channel:
                    return await inference_pb2_grpc.ExecutorStub(channel).Transcript(
                        request, timeout=FETCH_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                why = (f"the executor at {endpoint} did not hand over the transcript "
                       f"({error.code().name}: {error.details()})")
                if error.code() not in _RETRY:
                    return why
        if job.attempts >= FETCH_ATTEMPTS:
            return why
        job.not_before = time.time() + RETRY_AFTER_S
        return None

    @staticmethod
    async def _endpoint(queries: ChainQueries, job: Job) -> str | None:
        try:
            answer = await asyncio.to_thread(
                queries.call, "InferenceProviders",
                inference_pb2.QueryInferenceProvidersRequest(model=job.model))
        except QueryFailed:
            return None
        assert isinstance(answer, inference_pb2.QueryInferenceProvidersResponse)
        return next((p.endpoint for p in answer.providers if p.address == job.executor), None)

    # --- posting -------------------------------------------------------------------------

    async def _post(self, agent: AgentServices, height: int) -> None:
        """Follow the batches in flight; post what is pending."""
        assert self.state is not None
        for key, verdicts in list(self.state.posted.items()):
            submission = await agent.submit_once(key, [verdicts_message(
                agent.operator_address, verdicts)])
            if submission.committed is not None and submission.committed.ok:
                del self.state.posted[key]
            elif submission.committed is not None or not submission.accepted:
                del self.state.posted[key]
                self._sort_out(key, verdicts, submission)
        if not self.state.pending:
            return
        batches = [self.state.pending[i:i + VERDICTS_PER_TX]
                   for i in range(0, len(self.state.pending), VERDICTS_PER_TX)]
        self.state.pending = []
        for index, verdicts in enumerate(batches):
            key = f"verification/verdicts/{height}/{index}"
            submission = await agent.submit_once(key, [verdicts_message(
                agent.operator_address, verdicts)])
            if submission.accepted:
                self.state.posted[key] = verdicts
                log.info("posted %d verdicts: tx %s", len(verdicts), submission.hash)
            else:
                self._sort_out(key, verdicts, submission)

    def _sort_out(self, key: str, verdicts: list[list[Any]], submission: Submission) -> None:
        """A batch was refused: drop the verdict the chain named, post the rest again."""
        assert self.state is not None
        result = submission.committed
        code = result.code if result is not None else submission.check.code
        reason = (result.log if result is not None else submission.check.log) or ""
        found = VERDICT_INDEX.search(reason)
        index = int(found.group(1)) if found else None
        if index is not None and index < len(verdicts):
            log.warning("verdicts %s: the chain refused verdict %d (code %d): %s", key, index,
                        code, reason)
            self.state.pending.extend(v for i, v in enumerate(verdicts) if i != index)
        else:
            log.warning("verdicts %s refused (code %d): %s; dropped", key, code, reason)

    # --- logging -------------------------------------------------------------------------

    def _report(self, key: str, what: str, submission: Submission) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        if submission.accepted:
            log.info("verification %s: tx %s", what, submission.hash)
        else:
            log.info("verification %s refused (code %d): %s", what, submission.check.code,
                     submission.check.log)


def verifier_duty(agent_dir: Path, signer: Signer,
                  verifier: Verifier | None = None) -> BlockHandler:
    """The handler for ``agent.on_block``, keeping its state in ``agent_dir/verification``."""
    chosen = verifier if verifier is not None else Verifier(agent_dir, signer)

    async def verify(block: BlockContext) -> None:
        await chosen.on_block(block)

    return verify


__all__ = ["EpochView", "Job", "Verifier", "replay_requests", "seed_for", "verifier_duty"]
