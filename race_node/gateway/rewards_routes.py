"""REST routes of the rewards module's queries (``/race/rewards/v1/...``): the tokenomics,
a node's held rewards and reputation, every node's reputation, a cycle's rewards, params.

Added to the chain router by :func:`race_node.gateway.rest.chain_router`; each answer is the
proto3 JSON of the matching ``race.v1.Query`` response, as for every other module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from race_node.gateway.routing import JSON, Answer, Page, PageAnswer, ok
from race_protocol.gen.race.v1 import rewards_pb2

Operator = Annotated[str, Path(description="the node's operator account, race1...")]


def add_rewards_routes(router: APIRouter, answer: Answer, page_answer: PageAnswer) -> None:
    """The rewards module's query routes, on ``router``."""

    @router.get("/race/rewards/v1/tokenomics", tags=["rewards"],
                summary="Issuance so far, the current batch and subsidy, the funds",
                responses=ok("Tokenomics"))
    def tokenomics() -> JSON:
        return answer("Tokenomics", None)

    @router.get("/race/rewards/v1/held/{operator}", tags=["rewards"],
                summary="A node's held rewards, reputation and recent cycles",
                responses=ok("HeldRewards"))
    def held_rewards(operator: Operator) -> JSON:
        return answer("HeldRewards", rewards_pb2.QueryHeldRewardsRequest(operator=operator))

    @router.get("/race/rewards/v1/reputation/{operator}", tags=["rewards"],
                summary="A node's reputation and record", responses=ok("RewardsReputation"))
    def reputation(operator: Operator) -> JSON:
        return answer("RewardsReputation",
                      rewards_pb2.QueryRewardsReputationRequest(operator=operator))

    @router.get("/race/rewards/v1/reputations", tags=["rewards"],
                summary="Every node's reputation (a page)",
                responses=ok("RewardsReputations"))
    def reputations(page: Page, response: Response) -> JSON:
        return page_answer("RewardsReputations", None, page, response)

    @router.get("/race/rewards/v1/cycles/{cycle}", tags=["rewards"],
                summary="A cycle's rewards and each node's outcome (0: in progress)",
                responses=ok("RewardsCycle"))
    def rewards_cycle(cycle: Annotated[int, Path(ge=0, description="0: in progress")],
                      page: Page, response: Response) -> JSON:
        return page_answer("RewardsCycle", rewards_pb2.QueryRewardsCycleRequest(cycle=cycle),
                           page, response)

    @router.get("/race/rewards/v1/params", tags=["rewards"], summary="Rewards parameters",
                responses=ok("RewardsParams"))
    def rewards_params() -> JSON:
        return answer("RewardsParams", None)
