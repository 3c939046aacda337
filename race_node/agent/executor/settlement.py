"""Batched settlement: the executor's agent settles its tickets in as few txs as the chain
allows (DESIGN.md 7.4; docs/inference.md, "Settlement").

On each block the duty

* follows its open batches: a batch committed without error is settled; one refused or
  failed is sorted out: the ticket the chain named (its log says "ticket N") is dropped
  with the chain's reason, and the others go back to pending for the next batch;
* drops pending tickets whose validity window has passed;
* every ``every`` blocks, or as soon as a full batch is waiting, or when the oldest
  pending ticket nears the end of its window, cuts batches of at most
  ``max_tickets_per_settlement`` tickets that fit ``auth.max_tx_bytes``, records each
  batch in the store, then submits it through the journal (``submit_once``, keyed by the
  batch), so a crash between the two re-sends the same tx, never a second one.
"""

from __future__ import annotations

import asyncio
import logging
import re

from race_node.agent.duties import AgentServices, BlockContext
from race_node.agent.executor.store import DROPPED, SETTLED, ExecutorStore, StoredTicket
from race_node.client.broadcast import Submission
from race_node.client.queries import QueryFailed
from race_node.client.rpc import RPCError
from race_node.inference.view import ChainView
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import verification_pb2

log = logging.getLogger("race.agent.settlement")
DEFAULT_EVERY_BLOCKS = 3
# Room left in a tx for its envelope, the message's other fields and each ticket's framing.
ENVELOPE_BYTES = 1024
TICKET_FRAMING_BYTES = 8
TICKET_INDEX = re.compile(r"ticket (\d+)")
PRUNE_EVERY_BLOCKS = 50
TRANSCRIPT_WINDOWS = 10
# Blocks kept past the last moment a transcript can be asked for (a report filed in the
# window's last block, then voted on through a dispute window, with room for lag).
TRANSCRIPT_MARGIN_BLOCKS = 50
# A batch neither committed nor refused after this many blocks (its tx was dropped from
# the mempool for good, its sequence taken) is reconciled with the chain's settled records.
STALE_BATCH_BLOCKS = 10


def settle_message(executor: str, tickets: list[StoredTicket]) -> pb.MsgSettleTickets:
    return pb.MsgSettleTickets(executor=executor, tickets=[
        pb.SettledTicket(ticket=t.ticket, signature=t.signature, prompt_tokens=t.prompt_tokens,
                         completion_tokens=t.completion_tokens, output_commitment=t.commitment)
        for t in tickets])


def _batch_height(batch: str) -> int:
    """The height in a batch key ``inference/settle/<height>/<index>``."""
    parts = batch.split("/")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else 0


def cut_batches(tickets: list[StoredTicket], max_tickets: int,
                max_bytes: int) -> list[list[StoredTicket]]:
    """Consecutive batches of at most ``max_tickets`` tickets and ``max_bytes`` bytes."""
    batches: list[list[StoredTicket]] = []
    current: list[StoredTicket] = []
    size = 0
    for ticket in tickets:
        cost = (len(ticket.ticket) + len(ticket.signature) + len(ticket.commitment)
                + TICKET_FRAMING_BYTES + 12)
        if current and (len(current) >= max_tickets or size + cost > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(ticket)
        size += cost
    if current:
        batches.append(current)
    return batches


class SettlementDuty:
    """Settles what the executor service recorded."""

    def __init__(self, store: ExecutorStore, view: ChainView,
                 every: int = DEFAULT_EVERY_BLOCKS) -> None:
        self.store = store
        self.view = view
        self.every = max(1, every)
        self.settled = 0
        self.dropped = 0

    async def on_block(self, block: BlockContext) -> None:
        agent = block.agent
        for batch in await asyncio.to_thread(self.store.open_batches):
            await self._follow(agent, batch, block.height)
        params = await self.view.params()
        validity = int(params.ticket_validity_blocks)
        cap = int(params.max_tickets_per_settlement)
        pending = await asyncio.to_thread(self.store.pending, cap * 8)
        expired = [t for t in pending if t.height <= block.height - validity]
        if expired:
            await asyncio.to_thread(self.store.drop, expired, "expired before settlement")
            self.dropped += len(expired)
            log.warning("%d tickets expired before they were settled", len(expired))
        pending = [t for t in pending if t.height > block.height - validity]
        if not pending:
            await self._prune(block.height, validity)
            return
        near_end = pending[0].height <= block.height - validity // 2
        if len(pending) < cap and block.height % self.every and not near_end:
            return
        auth = await asyncio.to_thread(self.view.queries.auth_params)
        max_bytes = int(auth.max_tx_bytes) - ENVELOPE_BYTES
        for index, batch in enumerate(cut_batches(pending, cap, max_bytes)):
            key = f"inference/settle/{block.height}/{index}"
            await asyncio.to_thread(self.store.assign, key, batch)
            submission = await agent.submit_once(key, [settle_message(agent.operator_address,
                                                                      batch)])
            if not submission.accepted:
                await self._sort_out(key, batch, submission)
            else:
                log.info("settling %d tickets: tx %s", len(batch), submission.hash)
        await self._prune(block.height, validity)

    async def _follow(self, agent: AgentServices, batch: str, height: int) -> None:
        tickets = await asyncio.to_thread(self.store.batch, batch)
        if not tickets:
            return
        submission = await agent.submit_once(batch, [settle_message(agent.operator_address,
                                                                    tickets)])
        if submission.committed is not None and submission.committed.ok:
            await asyncio.to_thread(self.store.finish_batch, batch, SETTLED)
            self.settled += len(tickets)
            log.info("settled %d tickets at height %d", len(tickets),
                     submission.committed.height)
        elif submission.committed is not None or not submission.accepted:
            await self._sort_out(batch, tickets, submission)
        elif height - _batch_height(batch) > STALE_BATCH_BLOCKS:
            await self._reconcile(batch, tickets)

    async def _reconcile(self, batch: str, tickets: list[StoredTicket]) -> None:
        """Ask the chain which of a stale batch's tickets are settled; the rest go back to
        pending (the chain refuses a second settlement of any ticket, so this is safe)."""
        by_height: dict[int, list[StoredTicket]] = {}
        for ticket in tickets:
            by_height.setdefault(ticket.height, []).append(ticket)
        settled: set[tuple[int, bytes]] = set()
        for height, group in sorted(by_height.items()):
            answer = await self.view.settled(height, [t.request_id for t in group])
            settled.update((height, bytes.fromhex(s.request_id)) for s in answer.settled)
        done = [t for t in tickets if (t.height, t.request_id) in settled]
        await asyncio.to_thread(self.store.release,
                                [t for t in tickets if (t.height, t.request_id) not in settled])
        await asyncio.to_thread(self.store.finish_batch, batch, SETTLED)
        self.settled += len(done)
        log.warning("settlement %s never landed: %d of its tickets are settled, %d wait for "
                    "the next batch", batch, len(done), len(tickets) - len(done))

    async def _sort_out(self, batch: str, tickets: list[StoredTicket],
                        submission: Submission) -> None:
        """A batch was refused: drop the ticket the chain named, return the rest."""
        result = submission.committed if submission.committed is not None else None
        code = result.code if result is not None else submission.check.code
        reason = result.log if result is not None else submission.check.log
        found = TICKET_INDEX.search(reason or "")
        index = int(found.group(1)) if found else None
        if index is not None and index < len(tickets):
            bad = tickets[index]
            await asyncio.to_thread(self.store.drop, [bad], f"code {code}: {reason}")
            await asyncio.to_thread(self.store.release,
                                    [t for i, t in enumerate(tickets) if i != index])
            self.dropped += 1
            log.warning("settlement %s refused ticket %d (code %d): %s", batch, index, code,
                        reason)
        else:
            await asyncio.to_thread(self.store.release, tickets)
            log.warning("settlement %s refused (code %d): %s; its tickets wait for the next "
                        "batch", batch, code, reason)
        await asyncio.to_thread(self.store.finish_batch, batch, DROPPED, reason)

    async def _prune(self, height: int, validity: int) -> None:
        if height % PRUNE_EVERY_BLOCKS:
            return
        kept = await self._transcript_blocks(validity)
        if kept is not None:
            await asyncio.to_thread(self.store.prune, height - kept)

    async def _transcript_blocks(self, validity: int) -> int | None:
        """How many blocks back a transcript may still be asked for (docs/verification.md,
        "The check"): a ticket settles up to ``validity`` blocks after its height, may be
        reported ``report_window_blocks`` after that, and its dispute takes votes for
        ``dispute_window_blocks`` more. None (prune nothing) when the chain cannot say."""
        try:
            answer = await asyncio.to_thread(
                self.view.queries.call, "VerificationParams",
                verification_pb2.QueryVerificationParamsRequest())
        except (QueryFailed, RPCError, OSError) as error:
            log.debug("verification params unavailable (%s); transcripts kept", error)
            return None
        assert isinstance(answer, verification_pb2.QueryVerificationParamsResponse)
        needed = (validity + int(answer.params.report_window_blocks)
                  + int(answer.params.dispute_window_blocks) + TRANSCRIPT_MARGIN_BLOCKS)
        return max(TRANSCRIPT_WINDOWS * validity, needed)
