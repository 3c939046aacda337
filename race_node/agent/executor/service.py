"""The executor endpoint: ``race.v1.Executor/Execute``, for relays only (DESIGN.md 7.3).

A relay calls it with a signed ticket and the request. The service checks the ticket
(:func:`race_node.inference.tickets.check_ticket`), runs the request on this node's
sidecar with its top-k logprobs (the sidecar always returns them; they are what a
verifier replays), streams the sidecar's chunks back, and records the ticket with what
was produced and the transcript in the store. When the relay goes away the call is
cancelled: the sidecar call is cancelled with it (vLLM stops generating), and the tokens
produced so far are recorded for settlement. An interrupted request's prompt tokens are
not known (the sidecar reports usage at the end), so it is charged for its completion
tokens only; a request that produced nothing is never settled.

Refusals before the first chunk: PERMISSION_DENIED when the ticket does not check,
NOT_FOUND when this sidecar does not serve the model, UNAVAILABLE when the chain view
cannot be read, and the sidecar's own codes (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from race_node.agent.config import is_loopback, split_host_port
from race_node.agent.executor.store import ExecutorStore, StoredTicket
from race_node.agent.executor.transcripts import (
    TranscriptRefused,
    VerifierKeys,
    check_transcript_request,
)
from race_node.client.sidecar import SidecarClient
from race_node.inference.tickets import TicketRefused, check_ticket
from race_node.inference.view import ChainUnavailable, ChainView
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.inference.ticket import output_commitment

log = logging.getLogger("race.agent.executor")
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ExecutorConfigError(ValueError):
    """The executor endpoint cannot be served as configured."""


@dataclass
class Transcript:
    """What the sidecar produced for one request, choice by choice. While the answer
    streams, each chunk that carries output is only kept; the completions (text, token
    ids, logprob claims, finish reason) are put together once, when the request is
    recorded, rather than grown chunk by chunk."""

    usage: sidecar_pb2.TokenUsage | None = None
    completion_tokens: int = 0
    _parts: dict[int, list[sidecar_pb2.GenerateChunk]] = field(default_factory=dict)

    def add(self, chunk: sidecar_pb2.GenerateChunk) -> None:
        if chunk.HasField("usage"):
            self.usage = chunk.usage
        token_ids = chunk.token_ids
        if not token_ids and not chunk.finish_reason:
            return
        self.completion_tokens += len(token_ids)
        parts = self._parts.get(chunk.index)
        if parts is None:
            self._parts[chunk.index] = [chunk]
        else:
            parts.append(chunk)

    @property
    def produced(self) -> bool:
        """Whether any choice has output (a token or a finish reason)."""
        return bool(self._parts)

    def choices(self) -> dict[int, sidecar_pb2.Completion]:
        """Each choice's completion, by index."""
        choices = {}
        for index, parts in self._parts.items():
            choice = sidecar_pb2.Completion(index=index, text="".join(p.text for p in parts))
            for part in parts:
                choice.token_ids.extend(part.token_ids)
                choice.logprobs.extend(part.logprobs)
                if part.finish_reason:
                    choice.finish_reason = part.finish_reason
                    choice.stop_sequence = part.stop_sequence
            choices[index] = choice
        return choices

    def response(self, choices: dict[int, sidecar_pb2.Completion] | None = None
                 ) -> sidecar_pb2.GenerateResponse:
        choices = self.choices() if choices is None else choices
        return sidecar_pb2.GenerateResponse(
            choices=[choices[i] for i in sorted(choices)],
            usage=self.usage or sidecar_pb2.TokenUsage())


@dataclass
class ExecutorStats:
    """Counters for the agent's status page."""

    served: int = 0
    refused: int = 0
    interrupted: int = 0
    failed: int = 0
    last_refusal: str | None = None
    transcripts_served: int = 0
    transcripts_refused: int = 0


class ExecutorService(pb_grpc.ExecutorServicer):
    """Runs ticketed requests on this node's sidecar."""

    def __init__(self, executor: str, view: ChainView, sidecar: SidecarClient,
                 store: ExecutorStore) -> None:
        self.executor = executor
        self.view = view
        self.sidecar = sidecar
        self.store = store
        # Registry id -> the sidecar's name for the model (the serving duty keeps it).
        self.models: dict[str, str] = {}
        self.stats = ExecutorStats()
        self._writes: set[asyncio.Task[None]] = set()
        self._verifier_keys = VerifierKeys(view)

    async def Execute(self, request: pb.ExecuteRequest,  # noqa: N802 (gRPC name)
                      context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[sidecar_pb2.GenerateChunk]:
        try:
            ticket = await check_ticket(self.view, self.executor, request.ticket,
                                        request.signature, request.request)
        except TicketRefused as refused:
            self.stats.refused += 1
            self.stats.last_refusal = str(refused)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(refused))
            raise
        except ChainUnavailable as away:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the executor's node: {away}")
            raise
        sidecar_model = self.models.get(ticket.model)
        if sidecar_model is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"this executor's sidecar does not serve {ticket.model!r}")
        forwarded = sidecar_pb2.GenerateRequest()
        forwarded.CopyFrom(request.request)
        forwarded.model = sidecar_model
        forwarded.request_id = bytes(ticket.request_id).hex()
        call = self.sidecar.generate_stream(forwarded)
        transcript = Transcript()
        finished = False
        add, model = transcript.add, ticket.model
        try:
            async for chunk in call:
                add(chunk)
                chunk.model = model
                yield chunk
            finished = True
        except grpc.aio.AioRpcError as error:
            self.stats.failed += 1
            if transcript.completion_tokens:
                log.warning("request %s: the sidecar failed mid-answer: %s",
                            bytes(ticket.request_id).hex(), error.details())
            await context.abort(error.code(), error.details() or error.code().name)
        finally:
            if not call.done():
                call.cancel()
            if finished:
                self.stats.served += 1
            elif transcript.completion_tokens:
                self.stats.interrupted += 1
            self._record(ticket, request, transcript)

    async def Transcript(self, request: pb.TranscriptRequest,  # noqa: N802 (gRPC name)
                         context: grpc.aio.ServicerContext) -> pb.TranscriptResponse:
        """A settled task's transcript for a weighted verifier that signed the request
        (docs/verification.md, "The check")."""
        try:
            chain_id = await self.view.chain_id_of_node()
            await check_transcript_request(self._verifier_keys, chain_id, request)
        except TranscriptRefused as refused:
            self.stats.transcripts_refused += 1
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(refused))
            raise
        except ChainUnavailable as away:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the executor's node: {away}")
            raise
        stored = await asyncio.to_thread(self.store.transcript, request.ticket_height,
                                         bytes(request.request_id))
        if stored is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no transcript of request {bytes(request.request_id).hex()} "
                                f"at height {request.ticket_height} is kept here")
            raise AssertionError("unreachable")
        self.stats.transcripts_served += 1
        return pb.TranscriptResponse(
            request=sidecar_pb2.GenerateRequest.FromString(stored[0]),
            output=sidecar_pb2.GenerateResponse.FromString(stored[1]))

    def _record(self, ticket: pb.Ticket, request: pb.ExecuteRequest,
                transcript: Transcript) -> None:
        """Keep the ticket and transcript (in a worker thread; never blocks the stream)."""
        if not transcript.produced and transcript.usage is None:
            return
        choices = transcript.choices()
        stored = StoredTicket(
            height=ticket.height, request_id=bytes(ticket.request_id),
            ticket=bytes(request.ticket), signature=bytes(request.signature),
            prompt_tokens=transcript.usage.prompt_tokens if transcript.usage else 0,
            completion_tokens=transcript.completion_tokens,
            commitment=output_commitment(list(choices.values())))
        output = transcript.response(choices).SerializeToString()
        task = asyncio.ensure_future(asyncio.to_thread(
            self.store.record, stored, request.request.SerializeToString(), output))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cannot record a ticket in %s: %s", self.store.path, task.exception())

    async def flush(self) -> None:
        """Wait for pending store writes (at shutdown)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


class ExecutorServer:
    """The gRPC server of the executor endpoint, started and stopped with the agent."""

    name = "executor"

    def __init__(self, service: ExecutorService, address: str, endpoint: str) -> None:
        host, _ = split_host_port(address, "--executor-address")
        if not is_loopback(host):
            log.warning("the executor endpoint %s is not on loopback: relays reach it in "
                        "plaintext; put it behind TLS termination", address)
        self.service = service
        self.address = address
        self.endpoint = endpoint
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ])
        pb_grpc.add_ExecutorServicer_to_server(self.service, server)
        try:
            self.port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise OSError(f"cannot bind the executor endpoint to {self.address}: {exc}") from exc
        if not self.port:
            raise OSError(f"cannot bind the executor endpoint to {self.address}")
        await server.start()
        await self.service.view.start()
        self._server = server
        log.info("executor endpoint on %s (registered as %s)", self.address, self.endpoint)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=5)
            self._server = None
        await self.service.flush()
        await self.service.view.close()
        await self.service.sidecar.close()
        self.service.store.close()

    def status(self) -> dict[str, Any]:
        stats = self.service.stats
        return {"address": self.address, "endpoint": self.endpoint,
                "models": sorted(self.service.models), "served": stats.served,
                "refused": stats.refused, "interrupted": stats.interrupted,
                "failed": stats.failed, "last_refusal": stats.last_refusal,
                "transcripts_served": stats.transcripts_served,
                "transcripts_refused": stats.transcripts_refused}
