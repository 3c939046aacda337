"""REST routes of the race module's queries (``/race/race/v1/...``): the cycle in progress,
a cycle's schedule and results, a node's samples and openings, the providers, params.

Added to the chain router by :func:`race_node.gateway.rest.chain_router`; each answer is the
proto3 JSON of the matching ``race.v1.Query`` response, as for every other module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from race_node.gateway.routing import JSON, Answer, Page, PageAnswer, ok
from race_protocol.gen.race.v1 import query_pb2

CycleNumber = Annotated[int, Path(ge=0, description="cycle; 0 for the cycle in progress")]


def add_race_routes(router: APIRouter, answer: Answer, page_answer: PageAnswer) -> None:
    """The race module's query routes, on ``router``."""

    @router.get("/race/race/v1/status", tags=["race"],
                summary="The cycle in progress, its window and the window's last block",
                responses=ok("RaceStatus"))
    def race_status() -> JSON:
        return answer("RaceStatus", None)

    @router.get("/race/race/v1/cycles/{cycle}", tags=["race"],
                summary="A cycle's schedule, seeds, counts, outcome and params",
                responses=ok("RaceCycle"))
    def race_cycle(cycle: CycleNumber) -> JSON:
        return answer("RaceCycle", query_pb2.QueryRaceCycleRequest(cycle=cycle))

    @router.get("/race/race/v1/cycles/{cycle}/results", tags=["race"],
                summary="Per node: claimed count, attested share, status and new power",
                responses=ok("RaceResults"))
    def race_results(cycle: CycleNumber, page: Page, response: Response) -> JSON:
        return page_answer("RaceResults", query_pb2.QueryRaceResultsRequest(cycle=cycle),
                           page, response)

    @router.get("/race/race/v1/cycles/{cycle}/samples/{operator}", tags=["race"],
                summary="The ranks a node must open and the leaves it opened",
                responses=ok("RaceSamples"))
    def race_samples(cycle: CycleNumber,
                     operator: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("RaceSamples",
                      query_pb2.QueryRaceSamplesRequest(cycle=cycle, operator=operator))

    @router.get("/race/race/v1/providers", tags=["race"],
                summary="Registered providers with their power", responses=ok("RaceProviders"))
    def race_providers(page: Page, response: Response) -> JSON:
        return page_answer("RaceProviders", None, page, response)

    @router.get("/race/race/v1/providers/{operator}", tags=["race"],
                summary="One provider and its record of cycles", responses=ok("RaceProvider"))
    def race_provider(operator: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("RaceProvider", query_pb2.QueryRaceProviderRequest(operator=operator))

    @router.get("/race/race/v1/params", tags=["race"], summary="Race parameters",
                responses=ok("RaceParams"))
    def race_params() -> JSON:
        return answer("RaceParams", None)
