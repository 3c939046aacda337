"""REST routes of the verification module's queries (``/race/verification/v1/...``): a
task's checks and dispute, the tasks settled in a block, an epoch's verifiers and audit,
open disputes, a node's record, params.

Added to the chain router by :func:`race_node.gateway.rest.chain_router`; each answer is the
proto3 JSON of the matching ``race.v1.Query`` response, as for every other module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from race_node.gateway.routing import JSON, Answer, Page, PageAnswer, ok
from race_protocol.gen.race.v1 import verification_pb2 as pb


def add_verification_routes(router: APIRouter, answer: Answer, page_answer: PageAnswer) -> None:
    """The verification module's query routes, on ``router``."""

    @router.get("/race/verification/v1/tasks/{task_or_request_id}", tags=["verification"],
                summary="A settled task (or a request id's tasks): its checks and dispute",
                responses=ok("VerificationTask"))
    def verification_task(task_or_request_id: Annotated[str, Path(
            description="hex task id (32 bytes) or request id (16 bytes)")]) -> JSON:
        return answer("VerificationTask",
                      pb.QueryVerificationTaskRequest(id=task_or_request_id))

    @router.get("/race/verification/v1/blocks/{height}/tasks", tags=["verification"],
                summary="The tasks settled in one block", responses=ok("VerificationTasks"))
    def verification_tasks(height: Annotated[int, Path(ge=1)], page: Page,
                           response: Response) -> JSON:
        return page_answer("VerificationTasks", pb.QueryVerificationTasksRequest(height=height),
                           page, response)

    @router.get("/race/verification/v1/epochs/{epoch}", tags=["verification"],
                summary="An epoch's verifiers, seeds and audited counts",
                responses=ok("VerificationEpoch"))
    def verification_epoch(epoch: Annotated[int, Path(
            ge=0, description="epoch; 0 for the epoch in progress")]) -> JSON:
        return answer("VerificationEpoch", pb.QueryVerificationEpochRequest(epoch=epoch))

    @router.get("/race/verification/v1/disputes", tags=["verification"],
                summary="Open disputes, by deadline", responses=ok("Disputes"))
    def disputes(page: Page, response: Response) -> JSON:
        return page_answer("Disputes", None, page, response)

    @router.get("/race/verification/v1/verifiers/{verifier}", tags=["verification"],
                summary="A node's verification record", responses=ok("Verifier"))
    def verifier(verifier: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("Verifier", pb.QueryVerifierRequest(verifier=verifier))

    @router.get("/race/verification/v1/params", tags=["verification"],
                summary="Verification parameters", responses=ok("VerificationParams"))
    def verification_params() -> JSON:
        return answer("VerificationParams", None)
