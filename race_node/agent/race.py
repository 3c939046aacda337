"""The race duty: a provider's part in every Race cycle (whitepaper section 4 and Appendix A;
docs/race.md, "The agent").

On each height the duty reads the cycle in progress and does what its window asks of this
operator, each tx at most once per cycle (keyed in the broadcast journal):

* **race window**, registered for this cycle: start the Race on the sidecar
  (``StartRace``), with a deadline at the window's last block from the observed block
  time; the race runs on the sidecar while the agent follows the chain;
* once the race has finished, before the commit deadline: fetch its hits
  (``GetRaceResult``), keep them in ``HOME/agent/race/``, build the proof tree
  (race_protocol/race/merkle.py) and commit its root and count (``MsgCommitProof``);
* **opening window**: open the sampled leaves (``MsgOpenProof``, split to fit a tx), and
  recompute the other nodes' opened samples on the sidecar (``ValidateNonces``) as they
  land;
* **validation window**, when the operator has voting weight: attest once with a verdict
  for every opened node (``MsgAttest``).

A restarted agent picks up where it was: the race id is fixed by the cycle, so a race
still running (or finished) on the sidecar is found again; hits and verdicts are on
disk. A sidecar that is away is logged and waited for at the next height, never retried
in a loop here: other duties (the beacon) must not wait on the Race. A node that is
catching up does nothing (its state is old).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from abci_app.modules.race.params import RaceParams
from race_node.agent.duties import AgentServices, BlockContext, BlockHandler
from race_node.client.broadcast import Submission
from race_node.client.queries import ChainQueries, QueryFailed
from race_node.client.rpc import CometRPC
from race_node.client.sidecar import SidecarClient, SidecarError
from race_protocol.gen.race.v1 import query_pb2, race_pb2
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.race.merkle import Leaf, Opening, ProofTree, pack_siblings
from race_protocol.race.verdicts import encode

log = logging.getLogger("race.agent.race")

RACE_DIR = "race"
KEEP_CYCLES = 4
BLOCK_TIME_WINDOW = 20
DEFAULT_BLOCK_TIME_S = 1.0
# A node whose latest block is older than this many block times (plus a second) is behind
# the network, even when it no longer says it is catching up: a tx judged against its
# state could be invalid everywhere else, and stay in its mempool for good.
STALE_AFTER_BLOCKS = 3
# Room left in a tx for the envelope, signature and fee around the openings.
TX_ENVELOPE_BYTES = 1_024

RACING = race_pb2.RACE_CYCLE_STATUS_RACING
OPENING = race_pb2.RACE_CYCLE_STATUS_OPENING
VALIDATING = race_pb2.RACE_CYCLE_STATUS_VALIDATING
ENTRY_OPENED = race_pb2.RACE_ENTRY_STATUS_OPENED


class RaceLedgerError(Exception):
    """A cycle file in the node home cannot be read or written."""


@dataclass
class CycleRecord:
    """What this node did in one cycle, kept in ``HOME/agent/race/cycle-<n>.json``."""

    chain_id: str
    cycle: int
    race_id: str = ""
    deadline_unix_ms: int = 0
    started: bool = False
    # [nonce, distance_scaled] of every hit, once the race finished.
    hits: list[list[int]] | None = None
    # operator -> True (its sample recomputed as valid proofs) / False.
    verdicts: dict[str, bool] = field(default_factory=dict)
    validation_s: float = 0.0
    validated_nonces: int = 0
    # Wall-clock times (Unix seconds) of each step, for bench/race_cycle.py.
    timeline: dict[str, float] = field(default_factory=dict)
    race_stats: dict[str, Any] = field(default_factory=dict)

    def mark(self, step: str) -> None:
        if step not in self.timeline:
            self.timeline[step] = time.time()

    @property
    def leaves(self) -> list[Leaf]:
        return [Leaf(nonce, distance) for nonce, distance in self.hits or []]


class RaceLedger:
    """The cycle files in ``HOME/agent/race/`` (0700; files written atomically)."""

    def __init__(self, agent_dir: Path) -> None:
        self.directory = agent_dir / RACE_DIR

    def path(self, cycle: int) -> Path:
        return self.directory / f"cycle-{cycle}.json"

    def load(self, chain_id: str, cycle: int) -> CycleRecord:
        """The cycle's record, or a fresh one (another chain's file does not count)."""
        path = self.path(cycle)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return CycleRecord(chain_id, cycle)
        except (OSError, ValueError) as exc:
            raise RaceLedgerError(f"cannot read {path}: {exc}; move it away to start the "
                                  "cycle afresh") from exc
        if document.get("chain_id") != chain_id or document.get("cycle") != cycle:
            return CycleRecord(chain_id, cycle)
        return CycleRecord(**document)

    def save(self, record: CycleRecord) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(record.cycle)
        partial = path.with_name(path.name + ".partial")
        with partial.open("w") as handle:
            handle.write(record_json(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        self._forget_before(record.cycle - KEEP_CYCLES)

    def _forget_before(self, cycle: int) -> None:
        for path in sorted(self.directory.glob("cycle-*.json")):
            number = path.stem.removeprefix("cycle-")
            if number.isdigit() and int(number) < cycle:
                path.unlink(missing_ok=True)


def record_json(record: CycleRecord) -> str:
    return json.dumps(asdict(record), sort_keys=True)


def _fingerprint(record: CycleRecord) -> str:
    """What changes when the record does, without serialising every hit (they are set
    once per cycle)."""
    hits = None if record.hits is None else len(record.hits)
    return json.dumps([asdict(replace(record, hits=None)), hits], sort_keys=True)


def race_config(params: RaceParams) -> pb.RaceConfig:
    """The cycle's work function as the sidecar's wire config."""
    return pb.RaceConfig(**params.race_config().to_dict())


def params_of(answer: query_pb2.QueryRaceCycleResponse) -> RaceParams:
    """The params snapshot a cycle runs with."""
    fields = {name: int(getattr(answer.params, name))
              for name in RaceParams.__dataclass_fields__}
    return RaceParams(**fields)


def opening_message(operator: str, cycle: int, openings: list[tuple[int, Opening]]
                    ) -> race_pb2.MsgOpenProof:
    """``MsgOpenProof`` for ``(sample position, opening)`` pairs."""
    message = race_pb2.MsgOpenProof(operator=operator, cycle=cycle)
    for sample, opening in openings:
        mask, hashes, counts = pack_siblings(opening.siblings)
        message.openings.add(sample=sample, nonce=opening.leaf.nonce,
                             distance_scaled=opening.leaf.distance_scaled,
                             depth=opening.depth, empty_siblings=mask,
                             sibling_hashes=hashes, sibling_counts=counts)
    return message


def chunk_openings(operator: str, cycle: int, openings: list[tuple[int, Opening]],
                   budget: int) -> list[list[tuple[int, Opening]]]:
    """Consecutive groups of openings whose message fits ``budget`` bytes (at least one
    opening per group)."""
    groups: list[list[tuple[int, Opening]]] = []
    current: list[tuple[int, Opening]] = []
    for item in openings:
        trial = [*current, item]
        if current and opening_message(operator, cycle, trial).ByteSize() > budget:
            groups.append(current)
            trial = [item]
        current = trial
    if current:
        groups.append(current)
    return groups


def _seconds(header_time: str) -> float:
    return datetime.fromisoformat(header_time[:26].rstrip("Z") + "+00:00").timestamp()


def observed_block_time(rpc: CometRPC, height: int) -> float:
    """Seconds per block: the median gap between the last :data:`BLOCK_TIME_WINDOW` blocks
    up to ``height`` (a median, so a stretch the chain was stopped for does not count)."""
    first = max(1, height - BLOCK_TIME_WINDOW)
    if height <= first:
        return DEFAULT_BLOCK_TIME_S
    metas = rpc.call("blockchain", minHeight=str(first), maxHeight=str(height))["block_metas"]
    times = sorted(_seconds(meta["header"]["time"]) for meta in metas)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    return statistics.median(gaps) if gaps and statistics.median(gaps) > 0 \
        else DEFAULT_BLOCK_TIME_S


class RaceRunner:
    """One operator's part in the Race, height by height (see the module docstring).

    The steps are methods so a variant (tests/faults/cheating_agent.py) can change one
    without a switch in this code: :meth:`race_seed_for`, :meth:`leaves_to_commit`,
    :meth:`commitment`, :meth:`openings_for`."""

    def __init__(self, ledger: RaceLedger) -> None:
        self.ledger = ledger
        self.chain_id: str | None = None
        self._race_tasks: dict[int, asyncio.Task[None]] = {}
        self._trees: dict[int, ProofTree] = {}
        # The cycle in progress' record and the form it was last saved in.
        self._record: CycleRecord | None = None
        self._saved = ""
        # Seconds per block, measured once per cycle.
        self._block_time: tuple[int, float] = (0, DEFAULT_BLOCK_TIME_S)
        self._reported: set[str] = set()

    # --- the height ----------------------------------------------------------------------

    async def on_block(self, block: BlockContext) -> None:
        agent = block.agent
        status = await asyncio.to_thread(agent.rpc.status)
        self.chain_id = str(status["node_info"]["network"])
        if status.get("sync_info", {}).get("catching_up"):
            return
        queries = ChainQueries(agent.rpc)
        try:
            answer, height = await asyncio.to_thread(queries.call_at, "RaceStatus")
        except QueryFailed as failure:
            if failure.unreachable:
                raise
            return  # no cycle yet (before genesis ran)
        assert isinstance(answer, query_pb2.QueryRaceStatusResponse)
        cycle = answer.cycle
        if cycle.status not in (RACING, OPENING, VALIDATING):
            return
        if await self._behind(agent, status, cycle.cycle, height):
            return
        detail = await asyncio.to_thread(
            queries.call, "RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=cycle.cycle))
        assert isinstance(detail, query_pb2.QueryRaceCycleResponse)
        params = params_of(detail)
        record = await self._load(cycle.cycle)
        next_height = height + 1
        if cycle.status == RACING:
            if await self._racing_this_cycle(agent, queries, cycle.cycle):
                await self._race_step(agent, record, cycle, params, height, next_height)
        elif cycle.status == OPENING:
            if next_height <= cycle.open_end_height:
                await self._open(agent, queries, record, cycle)
            await self._validate(agent, queries, record, cycle, params, only_opened=True)
        elif cycle.status == VALIDATING:
            await self._validate(agent, queries, record, cycle, params, only_opened=False)
            if next_height <= cycle.validation_end_height:
                await self._attest(agent, queries, record, cycle)
        await self._save(record)

    async def _load(self, cycle: int) -> CycleRecord:
        assert self.chain_id is not None
        if self._record is None or self._record.cycle != cycle or \
                self._record.chain_id != self.chain_id:
            self._record = await asyncio.to_thread(self.ledger.load, self.chain_id, cycle)
            self._saved = _fingerprint(self._record)
        return self._record

    async def _save(self, record: CycleRecord) -> None:
        """Write the record when it changed (hits are written once, not every height)."""
        current = _fingerprint(record)
        if current != self._saved:
            await asyncio.to_thread(self.ledger.save, record)
            self._saved = current

    async def _behind(self, agent: AgentServices, status: dict[str, Any], cycle: int,
                      height: int) -> bool:
        """Whether the node's latest block is too old for its state to be the network's."""
        if self._block_time[0] != cycle:
            self._block_time = (cycle, await asyncio.to_thread(observed_block_time,
                                                               agent.rpc, height))
        latest = status.get("sync_info", {}).get("latest_block_time")
        if not latest:
            return False
        age = time.time() - _seconds(str(latest))
        if age <= STALE_AFTER_BLOCKS * self._block_time[1] + 1.0:
            return False
        self._once(f"behind/{cycle}", logging.WARNING,
                   "cycle %d: the node's latest block is %.1fs old; waiting for it to catch "
                   "up before acting", cycle, age)
        return True

    async def _racing_this_cycle(self, agent: AgentServices, queries: ChainQueries,
                                 cycle: int) -> bool:
        answer = await asyncio.to_thread(
            queries.call, "RaceProvider",
            query_pb2.QueryRaceProviderRequest(operator=agent.operator_address))
        assert isinstance(answer, query_pb2.QueryRaceProviderResponse)
        return answer.found and answer.provider.first_cycle <= cycle

    # --- racing and committing -----------------------------------------------------------

    async def _race_step(self, agent: AgentServices, record: CycleRecord,
                         cycle: race_pb2.RaceCycle, params: RaceParams, height: int,
                         next_height: int) -> None:
        sidecar = agent.sidecar
        if sidecar is None:
            self._once(f"no-sidecar/{cycle.cycle}", logging.WARNING,
                       "cycle %d: no sidecar configured; this node does not race",
                       cycle.cycle)
            return
        record.mark("seen_race_window")
        if not record.started and next_height <= cycle.race_end_height:
            await self._start_race(agent, sidecar, record, cycle, params, height)
        if record.started and record.hits is None and \
                time.time() * 1000 >= record.deadline_unix_ms:
            await self._collect(sidecar, record)
        if record.hits is not None and next_height <= cycle.commit_end_height:
            await self._commit(agent, record, cycle)

    async def _start_race(self, agent: AgentServices, sidecar: SidecarClient,
                          record: CycleRecord, cycle: race_pb2.RaceCycle, params: RaceParams,
                          height: int) -> None:
        block_time = await asyncio.to_thread(observed_block_time, agent.rpc, height)
        seconds = max(1.0, (cycle.race_end_height - height) * block_time)
        record.race_id = f"cycle-{cycle.cycle}-{cycle.race_seed[:12]}"
        record.deadline_unix_ms = int((time.time() + seconds) * 1000)
        request = pb.StartRaceRequest(
            race_seed=self.race_seed_for(bytes.fromhex(cycle.race_seed)),
            node_public_key=await self._node_key(
                agent), config=race_config(params), deadline_unix_ms=record.deadline_unix_ms,
            race_id=record.race_id)
        events = sidecar.start_race(request)
        try:
            first = await anext(events)
        except SidecarError as exc:
            if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
                if await self._race_known(sidecar, record.race_id):
                    record.started = True  # a restarted agent finds its race still running
                    return
                # An earlier cycle's race outlived its window (the chain was stopped, or a
                # deadline was long): its cycle is over, so stop it and race this one.
                stale = (await sidecar.engine_info()).running_race_id
                if stale and stale != record.race_id:
                    log.warning("cycle %d: stopping race %s, left over from an earlier "
                                "cycle", cycle.cycle, stale)
                    await sidecar.stop_race(stale)
                    return  # started at the next height
            self._once(f"start/{cycle.cycle}/{exc.code}", logging.WARNING,
                       "cycle %d: the sidecar did not start the race: %s", cycle.cycle, exc)
            return
        except StopAsyncIteration:
            return
        record.started = True
        record.mark("race_started")
        if first.HasField("started"):
            record.race_stats["batch_size"] = first.started.batch_size
            record.race_stats["weight_init_s"] = first.started.weight_init_s
        log.info("cycle %d: racing on the sidecar until %.1fs from now (%d blocks at %.2fs)",
                 cycle.cycle, seconds, cycle.race_end_height - height, block_time)
        self._race_tasks[cycle.cycle] = asyncio.create_task(
            self._follow_race(events, cycle.cycle), name=f"race-{cycle.cycle}")

    def race_seed_for(self, race_seed: bytes) -> bytes:
        """The seed the sidecar races with: the cycle's (whitepaper Appendix A: the same for
        every node of the Race)."""
        return race_seed

    async def _node_key(self, agent: AgentServices) -> bytes:
        answer = await asyncio.to_thread(
            ChainQueries(agent.rpc).call, "RaceProvider",
            query_pb2.QueryRaceProviderRequest(operator=agent.operator_address))
        assert isinstance(answer, query_pb2.QueryRaceProviderResponse)
        return bytes.fromhex(answer.provider.consensus_pub_key)

    @staticmethod
    async def _race_known(sidecar: SidecarClient, race_id: str) -> bool:
        try:
            await sidecar.race_result(race_id)
        except SidecarError:
            return False
        return True

    @staticmethod
    async def _follow_race(events: Any, cycle: int) -> None:
        """Read the race's stream to its end (hits are fetched afterwards)."""
        with contextlib.suppress(SidecarError, asyncio.CancelledError):
            async for event in events:
                if event.HasField("finished"):
                    log.info("cycle %d: race finished: %d nonces, %d hits, %.1f nonces/s",
                             cycle, event.finished.nonces_checked, len(event.finished.hits),
                             event.finished.nonces_per_s)

    async def _collect(self, sidecar: SidecarClient, record: CycleRecord) -> None:
        try:
            result = await sidecar.race_result(record.race_id)
        except SidecarError as exc:
            if exc.code is grpc.StatusCode.NOT_FOUND:
                record.hits = []
                log.warning("cycle %d: the sidecar no longer has race %s (it restarted?): "
                            "nothing to commit", record.cycle, record.race_id)
            return
        if not result.finished:
            return
        unique = {hit.nonce: hit.distance_scaled for hit in result.hits}
        record.hits = [[nonce, unique[nonce]] for nonce in sorted(unique)]
        record.race_stats.update(nonces_checked=result.nonces_checked,
                                 nonces_per_s=result.nonces_per_s, elapsed_s=result.elapsed_s)
        record.mark("race_finished")

    def leaves_to_commit(self, record: CycleRecord) -> list[Leaf]:
        """The leaves this node commits: its hits."""
        return record.leaves

    def tree(self, record: CycleRecord) -> ProofTree:
        """The cycle's proof tree over :meth:`leaves_to_commit` (built once per cycle)."""
        tree = self._trees.get(record.cycle)
        if tree is None:
            tree = self._trees[record.cycle] = ProofTree(self.leaves_to_commit(record))
            for old in [c for c in self._trees if c < record.cycle]:
                del self._trees[old]
        return tree

    def commitment(self, record: CycleRecord) -> tuple[bytes, int]:
        """(root, count) this node commits."""
        tree = self.tree(record)
        return tree.root, tree.count

    async def _commit(self, agent: AgentServices, record: CycleRecord,
                      cycle: race_pb2.RaceCycle) -> None:
        if not record.hits:
            self._once(f"no-hits/{cycle.cycle}", logging.WARNING,
                       "cycle %d: no hits: nothing to commit", cycle.cycle)
            return
        root, count = await asyncio.to_thread(self.commitment, record)
        message = race_pb2.MsgCommitProof(operator=agent.operator_address, cycle=cycle.cycle,
                                          root=root, count=count)
        key = f"race/commit/{cycle.cycle}"
        submission = await agent.submit_once(key, [message])
        record.mark("commit_sent")
        self._report(key, f"cycle {cycle.cycle} commitment of {count} leaves", submission)

    # --- opening ---------------------------------------------------------------------------

    def openings_for(self, record: CycleRecord, ranks: list[int]) -> list[tuple[int, Opening]]:
        """(sample position, opening) of every sampled rank."""
        tree = self.tree(record)
        return [(sample, tree.prove(rank)) for sample, rank in enumerate(ranks)]

    async def _open(self, agent: AgentServices, queries: ChainQueries, record: CycleRecord,
                    cycle: race_pb2.RaceCycle) -> None:
        answer = await asyncio.to_thread(
            queries.call, "RaceSamples", query_pb2.QueryRaceSamplesRequest(
                cycle=cycle.cycle, operator=agent.operator_address))
        assert isinstance(answer, query_pb2.QueryRaceSamplesResponse)
        if not answer.committed or not answer.ranks or record.hits is None:
            return
        opened = {item.sample for item in answer.openings}
        if len(opened) == len(answer.ranks):
            return
        budget = await self._tx_budget(queries)
        openings = await asyncio.to_thread(self.openings_for, record, list(answer.ranks))
        groups = chunk_openings(agent.operator_address, cycle.cycle, openings, budget)
        record.mark("open_sent")
        for index, group in enumerate(groups):
            if all(sample in opened for sample, _ in group):
                continue
            message = opening_message(agent.operator_address, cycle.cycle, group)
            key = f"race/open/{cycle.cycle}/{index}"
            self._report(key, f"cycle {cycle.cycle} openings {group[0][0]}-{group[-1][0]}",
                         await agent.submit_once(key, [message]))

    @staticmethod
    async def _tx_budget(queries: ChainQueries) -> int:
        params = await asyncio.to_thread(queries.auth_params)
        return max(TX_ENVELOPE_BYTES, int(params.max_tx_bytes) - TX_ENVELOPE_BYTES)

    # --- validating and attesting ----------------------------------------------------------

    async def _validate(self, agent: AgentServices, queries: ChainQueries,
                        record: CycleRecord, cycle: race_pb2.RaceCycle, params: RaceParams,
                        *, only_opened: bool) -> None:
        """Recompute the samples of every other node that opened all of them."""
        sidecar = agent.sidecar
        if sidecar is None or not await self._weighted(agent, queries):
            return
        entries = await self._entries(queries, cycle.cycle)
        for entry in entries:
            if entry.operator == agent.operator_address or entry.operator in record.verdicts:
                continue
            if entry.status != ENTRY_OPENED:
                continue
            samples = await asyncio.to_thread(
                queries.call, "RaceSamples", query_pb2.QueryRaceSamplesRequest(
                    cycle=cycle.cycle, operator=entry.operator))
            assert isinstance(samples, query_pb2.QueryRaceSamplesResponse)
            nonces = [item.nonce for item in samples.openings]
            if not nonces or len(nonces) != len(samples.ranks):
                continue
            started = time.perf_counter()
            try:
                verdict = await sidecar.validate_nonces(pb.ValidateNoncesRequest(
                    race_seed=bytes.fromhex(cycle.race_seed),
                    node_public_key=bytes.fromhex(samples.consensus_pub_key),
                    config=race_config(params), nonces=nonces))
            except SidecarError as exc:
                self._once(f"validate/{cycle.cycle}/{exc.code}", logging.WARNING,
                           "cycle %d: the sidecar cannot validate: %s", cycle.cycle, exc)
                return
            record.validation_s += time.perf_counter() - started
            record.validated_nonces += len(nonces)
            record.verdicts[entry.operator] = bool(verdict.accepted)
            record.mark("validation_started")
            level = logging.INFO if verdict.accepted else logging.WARNING
            log.log(level, "cycle %d: %s's sample of %d %s: %s", cycle.cycle, entry.operator,
                    len(nonces), "passes" if verdict.accepted else "FAILS", verdict.reason)
        if not only_opened:
            record.mark("validation_done")

    @staticmethod
    async def _weighted(agent: AgentServices, queries: ChainQueries) -> bool:
        validators = await asyncio.to_thread(queries.validators)
        return any(v.operator == agent.operator_address and v.power > 0 for v in validators)

    @staticmethod
    async def _entries(queries: ChainQueries, cycle: int) -> list[race_pb2.RaceEntry]:
        answer = await asyncio.to_thread(queries.call, "RaceResults",
                                         query_pb2.QueryRaceResultsRequest(cycle=cycle))
        assert isinstance(answer, query_pb2.QueryRaceResultsResponse)
        return list(answer.entries)

    async def _attest(self, agent: AgentServices, queries: ChainQueries, record: CycleRecord,
                      cycle: race_pb2.RaceCycle) -> None:
        """One attestation, once every other opened node has a verdict."""
        if agent.sidecar is None or not await self._weighted(agent, queries):
            return
        entries = [e for e in await self._entries(queries, cycle.cycle)
                   if e.validation_index >= 0]
        others = [e for e in entries if e.operator != agent.operator_address]
        if not others or any(e.operator not in record.verdicts for e in others):
            return
        passed = [e.validation_index for e in others if record.verdicts[e.operator]]
        failed = [e.validation_index for e in others if not record.verdicts[e.operator]]
        message = race_pb2.MsgAttest(attester=agent.operator_address, cycle=cycle.cycle,
                                     passed=encode(passed, cycle.opened),
                                     failed=encode(failed, cycle.opened))
        key = f"race/attest/{cycle.cycle}"
        record.mark("attest_sent")
        self._report(key, f"cycle {cycle.cycle} attestation ({len(passed)} pass, "
                          f"{len(failed)} fail)", await agent.submit_once(key, [message]))

    # --- logging ---------------------------------------------------------------------------

    def _once(self, key: str, level: int, message: str, *args: Any) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.log(level, message, *args)

    def _report(self, key: str, what: str, submission: Submission) -> None:
        """Log a submission's verdict once (later calls for its key get the same one)."""
        if submission.accepted:
            self._once(key, logging.INFO, "race %s: tx %s", what, submission.hash)
        else:
            self._once(key, logging.WARNING, "race %s refused (code %d): %s", what,
                       submission.check.code, submission.check.log)


def race_duty(agent_dir: Path, runner: RaceRunner | None = None) -> BlockHandler:
    """The handler for ``agent.on_block``, keeping its files in ``agent_dir/race``."""
    chosen = runner if runner is not None else RaceRunner(RaceLedger(agent_dir))

    async def race(block: BlockContext) -> None:
        await chosen.on_block(block)

    return race
