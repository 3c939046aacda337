"""REST routes of the rewards module's queries (``/race/rewards/v1/...``): the tokenomics,
a node's held rewards and reputation, every node's reputation, a cycle's rewards, params.

Added to the chain router by :func:`race_node.gateway.rest.chain_router`; each answer is the
proto3 JSON of the matching ``race.v1.Query`` response, as for every other module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from google.protobuf.message import Message

from race_node.client.queries import METHODS
from race_node.gateway.proto_schema import schema_ref
from race_protocol.gen.race.v1 import rewards_pb2

JSON = dict[str, Any]
Answer = Callable[[str, Message | None], JSON]
Operator = Annotated[str, Path(description="the node's operator account, race1...")]


def _ok(method: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": f"race.v1 {method} answer (proto3 JSON)",
                  "content": {"application/json": {
                      "schema": schema_ref(METHODS[method].response_type.DESCRIPTOR)}}}}


def add_rewards_routes(router: APIRouter, answer: Answer) -> None:
    """The rewards module's query routes, on ``router``."""

    @router.get("/race/rewards/v1/tokenomics", tags=["rewards"],
                summary="Issuance so far, the current batch and subsidy, the funds",
                responses=_ok("Tokenomics"))
    def tokenomics() -> JSON:
        return answer("Tokenomics", None)

    @router.get("/race/rewards/v1/held/{operator}", tags=["rewards"],
                summary="A node's held rewards, reputation and recent cycles",
                responses=_ok("HeldRewards"))
    def held_rewards(operator: Operator) -> JSON:
        return answer("HeldRewards", rewards_pb2.QueryHeldRewardsRequest(operator=operator))

    @router.get("/race/rewards/v1/reputation/{operator}", tags=["rewards"],
                summary="A node's reputation and record", responses=_ok("RewardsReputation"))
    def reputation(operator: Operator) -> JSON:
        return answer("RewardsReputation",
                      rewards_pb2.QueryRewardsReputationRequest(operator=operator))

    @router.get("/race/rewards/v1/reputations", tags=["rewards"],
                summary="Every node's reputation (a page)",
                responses=_ok("RewardsReputations"))
    def reputations() -> JSON:
        return answer("RewardsReputations", None)

    @router.get("/race/rewards/v1/cycles/{cycle}", tags=["rewards"],
                summary="A cycle's rewards and each node's outcome (0: in progress)",
                responses=_ok("RewardsCycle"))
    def rewards_cycle(cycle: Annotated[int, Path(ge=0, description="0: in progress")]) -> JSON:
        return answer("RewardsCycle", rewards_pb2.QueryRewardsCycleRequest(cycle=cycle))

    @router.get("/race/rewards/v1/params", tags=["rewards"], summary="Rewards parameters",
                responses=_ok("RewardsParams"))
    def rewards_params() -> JSON:
        return answer("RewardsParams", None)
