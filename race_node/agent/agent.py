"""The node agent: follow the chain height by height and run the registered duties.

Rules it keeps:

* Heights are processed strictly in order, from the cursor + 1 up to the latest height the
  node announced; each height's events are read with ``block_results``, so catching up
  after downtime and following live blocks are the same code.
* The cursor moves past a height only after every duty finished for it, and is written
  atomically. A crash redoes at most that one height, and duties are idempotent for a
  height (keyed submissions through the broadcast journal), so no tx is sent twice.
* A node or sidecar that goes away is waited for with backoff, never a reason to exit;
  SIGTERM finishes the current height, closes connections and exits 0.
* A fresh agent (no cursor) starts at the chain's head: duties act on what happens from
  now on, not on history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from race_node.agent.config import AgentConfig
from race_node.agent.cursor import Cursor, CursorError, CursorState
from race_node.agent.duties import (
    BlockContext,
    BlockHandler,
    Duty,
    EventHandler,
    block_events,
)
from race_node.agent.sidecar_monitor import SidecarMonitor
from race_node.agent.status_server import StatusServer
from race_node.client.backoff import Backoff
from race_node.client.broadcast import Broadcaster, Signer, Submission
from race_node.client.events import BlockSubscription
from race_node.client.journal import COMMITTED, BroadcastJournal, JournalEntry
from race_node.client.rpc import CometRPC, RPCError
from race_node.client.sidecar import SidecarClient, SidecarError

log = logging.getLogger("race.agent")

# A duty that fails for a reason other than an absent node or sidecar is retried this many
# times, then skipped for the height (logged), so one bug cannot stall every other duty.
MAX_DUTY_ATTEMPTS = 3
RPC_TIMEOUT_S = 5.0
_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class AgentServer(Protocol):
    """A server the agent runs for its whole life (the executor endpoint)."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class AgentError(Exception):
    """The agent cannot run: a wrong home, key, cursor, or a busy status address."""


def is_transient(error: BaseException) -> bool:
    """Failures that mean "the node or sidecar is away": wait for it, however long."""
    if isinstance(error, SidecarError):
        return error.code in _UNAVAILABLE
    return isinstance(error, RPCError | OSError | TimeoutError)


async def _first(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` completes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class NodeAgent:
    """One operator's agent. Register duties with :meth:`on_block` / :meth:`on_event`,
    then ``await run()`` until :meth:`request_stop`."""

    def __init__(self, config: AgentConfig, signer: Signer, *,
                 sidecar: SidecarClient | None = None) -> None:
        self.config = config
        self.signer = signer
        self._rpc = CometRPC(config.rpc_url, timeout=RPC_TIMEOUT_S)
        self._sidecar = sidecar
        self.subscription = BlockSubscription(config.rpc_url)
        self.monitor = SidecarMonitor(sidecar, config.sidecar_health_interval_s)
        self.cursor = Cursor(config.cursor_path)
        self.duties: list[Duty] = []
        self.journal: BroadcastJournal | None = None
        self.broadcaster: Broadcaster | None = None
        self.chain_height: int | None = None
        self.chain_id: str | None = None
        self.last_height: int | None = None
        self.status_port: int | None = None
        self.started_at = datetime.now(UTC)
        # Servers that live as long as the agent (the executor endpoint): started after the
        # status endpoint, closed at stop; each adds its status under its name.
        self.servers: list[AgentServer] = []
        self._stop = asyncio.Event()
        self._new_height = asyncio.Event()

    # --- what duties see (race_node.agent.duties.AgentServices) -------------------------

    @property
    def operator_address(self) -> str:
        return self.signer.address

    @property
    def rpc(self) -> CometRPC:
        return self._rpc

    @property
    def sidecar(self) -> SidecarClient | None:
        return self._sidecar

    async def submit_once(self, key: str, messages: Sequence[Message],
                          memo: str = "") -> Submission:
        """Sign with the operator key and submit at most once for ``key`` (journaled)."""
        if self.broadcaster is None:
            raise AgentError("submit_once is for duties, while the agent runs")
        return await asyncio.to_thread(self.broadcaster.submit_once, key, messages, memo)

    # --- registering duties ---------------------------------------------------------------

    def on_block(self, handler: BlockHandler, name: str | None = None) -> BlockHandler:
        """Run ``handler`` for every height, in order."""
        self.duties.append(Duty(name or handler.__name__, handler))
        return handler

    def on_event(self, event_type: str, handler: EventHandler,
                 name: str | None = None) -> EventHandler:
        """Run ``handler`` for each event of ``event_type`` in a height, in block order."""
        self.duties.append(Duty(name or handler.__name__, handler, event_type))
        return handler

    # --- running --------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current height, then stop (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> None:
        """Follow the chain and run the duties until :meth:`request_stop`."""
        try:
            saved = self.cursor.load()
        except CursorError as exc:
            raise AgentError(str(exc)) from exc
        self.last_height = None if saved is None else saved.height
        self.config.agent_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.journal = BroadcastJournal(self.config.journal_path)
        self.broadcaster = Broadcaster(self._rpc, self.signer, journal=self.journal)
        host, port = self.config.status_host_port
        status_server = StatusServer(host, port, self.status)
        try:
            self.status_port = await status_server.start()
        except OSError as exc:
            self.journal.close()
            raise AgentError(f"cannot serve the status endpoint on {self.config.status_address}"
                             f": {exc.strerror or exc}; choose another --status-address"
                             ) from exc
        started: list[AgentServer] = []
        try:
            for server in self.servers:
                await server.start()
                started.append(server)
        except OSError as exc:
            for server in reversed(started):
                await server.close()
            await status_server.close()
            self.journal.close()
            raise AgentError(f"cannot start the agent's {server.name}: {exc}") from exc
        if saved is None:
            log.info("no cursor in %s: starting at the chain's head", self.config.agent_dir)
        else:
            log.info("resuming after height %d (the cursor)", saved.height)
        log.info("agent for %s started: node %s, sidecar %s, status http://%s:%d/status, "
                 "duties: %s", self.signer.address, self.config.rpc_url,
                 self.config.sidecar_address or "none", host, self.status_port,
                 ", ".join(d.name for d in self.duties) or "none")
        watchers = [asyncio.create_task(self._watch_chain(), name="watch-chain"),
                    asyncio.create_task(self.monitor.run(self._stop), name="watch-sidecar")]
        try:
            await self._follow(saved)
        finally:
            self._stop.set()
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await status_server.close()
            for server in reversed(self.servers):
                await server.close()
            if self._sidecar is not None:
                await self._sidecar.close()
            self.journal.close()
            self._rpc.close()
            log.info("agent stopped at height %s", self.last_height)

    async def _watch_chain(self) -> None:
        async for height in self.subscription.heights():
            # A node that has not committed its first block yet (one syncing from genesis)
            # reports height 0: there is no block to read until it has one.
            if height >= 1 and (self.chain_height is None or height > self.chain_height):
                self.chain_height = height
                self._new_height.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or return False at once when a stop is requested."""
        if not self._stop.is_set():
            await _first(asyncio.sleep(seconds), self._stop.wait())
        return not self._stop.is_set()

    async def _follow(self, cursor: CursorState | None) -> None:
        waiting_logged = False
        while True:
            self._new_height.clear()
            if self._stop.is_set():
                return
            head = self.chain_height
            if head is None or (cursor is not None and head <= cursor.height):
                if head is not None and cursor is not None and head < cursor.height \
                        and not waiting_logged:
                    log.warning("the node is at height %d, behind this agent's cursor %d; "
                                "waiting for it to catch up", head, cursor.height)
                    waiting_logged = True
                await _first(self._new_height.wait(), self._stop.wait())
                continue
            waiting_logged = False
            chain_id = await self._chain_id(cursor)
            if chain_id is None:
                return
            if cursor is None:
                cursor = CursorState(head - 1, chain_id)
            height = cursor.height + 1
            if not await self._process(height):
                return
            cursor = CursorState(height, chain_id)
            await asyncio.to_thread(self.cursor.save, cursor)
            self.last_height = height
            await self._settle()

    async def _chain_id(self, cursor: CursorState | None) -> str | None:
        """The node's chain id (once), refusing a cursor written for another chain."""
        backoff = Backoff(initial=0.5, maximum=10.0)
        while self.chain_id is None:
            try:
                status = await asyncio.to_thread(self._rpc.status)
                self.chain_id = str(status["node_info"]["network"])
            except RPCError as exc:
                log.warning("cannot read the node's status: %s", exc)
                if not await self._sleep(backoff.next_delay()):
                    return None
        if cursor is not None and cursor.chain_id != self.chain_id:
            raise AgentError(
                f"the agent's cursor {self.config.cursor_path} is for chain "
                f"{cursor.chain_id!r} but the node runs {self.chain_id!r}; point --node at "
                f"the right node, or delete {self.config.agent_dir} to start afresh")
        return self.chain_id

    async def _process(self, height: int) -> bool:
        """Every duty for ``height``; False when a stop interrupted it (redo it next run)."""
        backoff = Backoff(initial=0.5, maximum=10.0)
        while True:
            try:
                context = await self._read_block(height)
                break
            except RPCError as exc:
                log.warning("cannot read block %d from the node: %s", height, exc)
                if not await self._sleep(backoff.next_delay()):
                    return False
        for duty in self.duties:
            if not await self._run_duty(duty, context):
                return False
        return True

    async def _read_block(self, height: int) -> BlockContext:
        """The height's events for the duties; our own txs in it are recorded as committed."""
        results = await asyncio.to_thread(self._rpc.block_results, height)
        hashes = (await asyncio.to_thread(self._rpc.block_tx_hashes, height)
                  if results.txs else [])
        assert self.broadcaster is not None
        landed = await asyncio.to_thread(self.broadcaster.observe_block, height, hashes,
                                         results.txs)
        self._log_fates(landed)
        return BlockContext(height, block_events(results, hashes), self)

    async def _run_duty(self, duty: Duty, context: BlockContext) -> bool:
        backoff = Backoff(initial=0.5, maximum=10.0)
        attempts = 0
        while True:
            try:
                if await duty.run(context):
                    duty.stats.runs += 1
                    duty.stats.last_height = context.height
                return True
            except Exception as exc:
                duty.stats.failures += 1
                duty.stats.last_error = f"height {context.height}: {exc}"
                if is_transient(exc):
                    log.warning("duty %s at height %d is waiting: %s", duty.name,
                                context.height, exc)
                else:
                    attempts += 1
                    log.exception("duty %s failed at height %d (attempt %d of %d)",
                                  duty.name, context.height, attempts, MAX_DUTY_ATTEMPTS)
                    if attempts >= MAX_DUTY_ATTEMPTS:
                        log.error("duty %s skips height %d after %d failures", duty.name,
                                  context.height, attempts)
                        return True
            if not await self._sleep(backoff.next_delay()):
                return False

    async def _settle(self) -> None:
        """Learn the fate of submitted txs not seen in a block (dropped ones), and put
        pending ones back in a restarted node's mempool."""
        if self.broadcaster is None:
            return
        try:
            settled = await asyncio.to_thread(self.broadcaster.settle)
        except Exception as exc:  # the next height tries again
            log.debug("cannot settle submitted txs yet: %s", exc)
            return
        self._log_fates(settled)

    @staticmethod
    def _log_fates(entries: list[JournalEntry]) -> None:
        for entry in entries:
            if entry.state == COMMITTED and entry.code == 0:
                log.info("tx %s (%s) committed at height %d", entry.hash, entry.key,
                         entry.height)
            else:
                log.warning("tx %s (%s) %s (code %d): %s", entry.hash, entry.key,
                            entry.state, entry.code, entry.log)

    # --- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status endpoint's document."""
        stats = self.broadcaster.stats if self.broadcaster is not None else None
        pending = (len(self.journal.open_entries(self.signer.address))
                   if self.journal is not None else 0)
        return {
            "last_height": self.last_height,
            "chain_height": self.chain_height,
            "chain_id": self.chain_id,
            "operator": self.signer.address,
            "node": {"rpc": self.config.rpc_url, "connected": self.subscription.connected,
                     "error": self.subscription.last_error},
            "sidecar": self.monitor.as_status(),
            "txs": {"sent": stats.sent if stats else 0, "failed": stats.failed if stats else 0,
                    "pending": pending},
            "duties": [duty.as_status() for duty in self.duties],
            **{server.name: server.status() for server in self.servers},
            "started_at": self.started_at.isoformat(timespec="seconds"),
        }
