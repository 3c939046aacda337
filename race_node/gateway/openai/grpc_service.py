"""``race.v1.Inference``: the relay for gRPC users, next to the REST API.

The API key travels as ``authorization: Bearer <secret>`` metadata; the request is the
sidecar's ``GenerateRequest`` with ``model`` a registry id, and the answer streams the
executor's chunks. Refusals, all before the first chunk: UNAUTHENTICATED (bad or revoked
key), NOT_FOUND (unknown model), INVALID_ARGUMENT, RESOURCE_EXHAUSTED (out of budget or
over the rate limit), UNAVAILABLE (no provider, or the executor failed mid-answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from race_node.gateway.openai.relay import MidStreamError, Relay
from race_node.gateway.openai.serving_base import OpenAIError
from race_node.inference.view import ChainUnavailable
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc
from race_protocol.gen.race.v1 import sidecar_pb2

_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
          404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.INVALID_ARGUMENT,
          429: grpc.StatusCode.RESOURCE_EXHAUSTED, 502: grpc.StatusCode.UNAVAILABLE,
          503: grpc.StatusCode.UNAVAILABLE}


def grpc_code(refusal: OpenAIError) -> grpc.StatusCode:
    return _CODES.get(refusal.status, grpc.StatusCode.INTERNAL)


def metadata_secret(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, secret = value.partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return secret.strip()
    return None


class InferenceService(pb_grpc.InferenceServicer):
    """Relays gRPC requests exactly as the REST API does."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def GenerateStream(self, request: sidecar_pb2.GenerateRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[sidecar_pb2.GenerateChunk]:
        secret = metadata_secret(context)
        if secret is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "send the API key as 'authorization: Bearer <key>' metadata")
            return
        sampling = request.sampling
        max_tokens = sampling.max_tokens if sampling.HasField("max_tokens") else None
        choices = sampling.n if sampling.HasField("n") else 1
        try:
            relayed = await self.relay.open(secret, request, max_tokens, choices)
        except OpenAIError as refusal:
            await context.abort(grpc_code(refusal), refusal.message)
            return
        try:
            async for chunk in relayed.chunks():
                yield chunk
        except MidStreamError as failure:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(failure))
        finally:
            relayed.close()

    async def ListModels(self, request: pb.QueryInferenceModelsRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> pb.QueryInferenceModelsResponse:
        try:
            return pb.QueryInferenceModelsResponse(models=await self.relay.view.models())
        except ChainUnavailable as away:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(away))
            raise


class InferenceServer:
    """A grpc.aio server for :class:`InferenceService`, on the gateway's event loop."""

    def __init__(self, relay: Relay, address: str) -> None:
        self.relay = relay
        self.address = address
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server()
        pb_grpc.add_InferenceServicer_to_server(InferenceService(self.relay), server)
        self.port = server.add_insecure_port(self.address)
        if not self.port:
            raise OSError(f"cannot bind the gRPC inference service to {self.address}")
        await server.start()
        self._server = server

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2)
            self._server = None
