"""REST routes of the inference module's queries (``/race/inference/v1/...``): API keys by
hash or owner, the served models, a model's draw inputs, relays, settled tickets, params.

Added to the chain router by :func:`race_node.gateway.rest.chain_router`; each answer is the
proto3 JSON of the matching ``race.v1.Query`` response, as for every other module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from race_node.gateway.routing import JSON, Answer, ok
from race_protocol.gen.race.v1 import inference_pb2


def add_inference_routes(router: APIRouter, answer: Answer) -> None:
    """The inference module's query routes, on ``router``."""

    @router.get("/race/inference/v1/keys/{key_hash}", tags=["inference"],
                summary="An API key's record by the hex SHA-256 of its secret",
                responses=ok("ApiKey"))
    def api_key(key_hash: Annotated[str, Path(description="hex SHA-256 of the secret")]
                ) -> JSON:
        return answer("ApiKey", inference_pb2.QueryApiKeyRequest(key_hash=key_hash))

    @router.get("/race/inference/v1/accounts/{owner}/keys", tags=["inference"],
                summary="An account's API keys", responses=ok("ApiKeys"))
    def api_keys(owner: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("ApiKeys", inference_pb2.QueryApiKeysRequest(owner=owner))

    @router.get("/race/inference/v1/models", tags=["inference"],
                summary="Active models with at least one weighted provider",
                responses=ok("InferenceModels"))
    def inference_models() -> JSON:
        return answer("InferenceModels", None)

    @router.get("/race/inference/v1/providers/{model}", tags=["inference"],
                summary="A model's weighted providers and the latest beacon output",
                responses=ok("InferenceProviders"))
    def providers(model: str) -> JSON:
        return answer("InferenceProviders",
                      inference_pb2.QueryInferenceProvidersRequest(model=model))

    @router.get("/race/inference/v1/relays/{public_key}", tags=["inference"],
                summary="A registered relay key", responses=ok("Relay"))
    def relay(public_key: Annotated[str, Path(description="hex ed25519 key")]) -> JSON:
        return answer("Relay", inference_pb2.QueryRelayRequest(public_key=public_key))

    @router.get("/race/inference/v1/settled/{height}", tags=["inference"],
                summary="Which of some tickets signed at one height are settled",
                responses=ok("SettledTickets"))
    def settled(height: Annotated[int, Path(ge=1)],
                request_ids: Annotated[str, Query(description="comma-separated hex ids")]
                ) -> JSON:
        return answer("SettledTickets", inference_pb2.QuerySettledTicketsRequest(
            height=height, request_ids=[i for i in request_ids.split(",") if i]))

    @router.get("/race/inference/v1/params", tags=["inference"],
                summary="Inference parameters", responses=ok("InferenceParams"))
    def inference_params() -> JSON:
        return answer("InferenceParams", None)
