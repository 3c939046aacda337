"""The serve-model duty: the chain's list of what this provider serves follows what its
sidecar actually loaded (DESIGN.md 7; docs/inference.md, "Providers").

Every ``every`` blocks (and at the first block the agent processes) the duty asks the
sidecar which models it serves (a sidecar that does not answer yet is asked again at the
next block; the other duties go on meanwhile). A sidecar model serves the registry id
equal to its name in lower case (``SmolLM2-135M-Instruct`` serves
``smollm2-135m-instruct``). For each
active registry model the sidecar has and the chain does not list at this endpoint, it
sends ``MsgServeModel``; for each the chain lists and the sidecar no longer has,
``MsgStopServing``; all in one tx through the journal.
"""

from __future__ import annotations

import asyncio
import logging

from race_node.agent.duties import BlockContext
from race_node.agent.executor.service import ExecutorService
from race_node.client.queries import ChainQueries
from race_node.client.sidecar import SidecarError
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import models_pb2, query_pb2

log = logging.getLogger("race.agent.serving")
DEFAULT_EVERY_BLOCKS = 20


def registry_id(sidecar_model: str) -> str:
    """The registry id a sidecar model serves."""
    return sidecar_model.lower()


class ServingDuty:
    """Keeps ``MsgServeModel`` on chain in step with the sidecar."""

    def __init__(self, service: ExecutorService, endpoint: str,
                 every: int = DEFAULT_EVERY_BLOCKS) -> None:
        self.service = service
        self.endpoint = endpoint
        self.every = every
        self._last: int | None = None
        self._sent: set[tuple[str, str]] = set()
        self._waiting = False

    async def on_block(self, block: BlockContext) -> None:
        if self._last is not None and block.height - self._last < self.every:
            return
        agent = block.agent
        if agent.sidecar is None:
            return
        try:
            served = await agent.sidecar.list_models()
        except SidecarError as away:
            # Not a reason to hold up the other duties: ask again at the next block.
            if not self._waiting:
                log.info("the sidecar does not answer yet (%s); serving nothing until it does",
                         away)
            self._waiting = True
            return
        self._waiting = False
        loaded = {registry_id(m.name): m.name for m in served}
        self.service.models = loaded
        queries = ChainQueries(agent.rpc)
        answer = await asyncio.to_thread(queries.call, "Models", query_pb2.QueryModelsRequest(
            status=models_pb2.MODEL_STATUS_ACTIVE))
        assert isinstance(answer, query_pb2.QueryModelsResponse)
        me = agent.operator_address
        messages: list[pb.MsgServeModel | pb.MsgStopServing] = []
        for model in sorted(m.id for m in answer.models):
            route = await self.service.view.route(model)
            listed = None if route is None else route.endpoints.get(me)
            if model in loaded and listed != self.endpoint:
                if (model, self.endpoint) not in self._sent:
                    messages.append(pb.MsgServeModel(provider=me, model=model,
                                                     endpoint=self.endpoint))
            elif model not in loaded and listed is not None:
                messages.append(pb.MsgStopServing(provider=me, model=model))
        self._last = block.height
        if not messages:
            return
        key = f"inference/serve/{block.height}"
        submission = await agent.submit_once(key, messages)
        if submission.accepted:
            self._sent.update((m.model, self.endpoint) for m in messages
                              if isinstance(m, pb.MsgServeModel))
            log.info("serving %s at %s (tx %s)", ", ".join(
                m.model for m in messages if isinstance(m, pb.MsgServeModel)) or "nothing new",
                self.endpoint, submission.hash)
        else:
            log.warning("serve-model tx refused (code %d): %s", submission.check.code,
                        submission.check.log)
