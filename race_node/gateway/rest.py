"""The REST gateway: chain queries and tx broadcast over a node's CometBFT RPC (FastAPI).

Paths follow the Cosmos convention ``/race/<module>/v1/...``; every answer is the proto3
JSON of the matching ``race.v1.Query`` response, the same data the gRPC gateway and the
CLI return. The OpenAPI document is served at ``/openapi.json`` (interactive at ``/docs``).
Every listing takes ``page_key`` and ``page_limit`` and names the next page in the
``X-Next-Page-Key`` header (:mod:`race_node.gateway.routing`). Errors come back as
``{"code", "codespace", "message"}`` with 400, 404, 413, 422, 429, 503 or 504.

Bounds (docs/gateway.md, "Bounds"): a request body is at most :data:`MAX_BODY_BYTES` (a
tx of ``MAX_TX_BYTES`` in base64, and its JSON), and at most :data:`REST_COMMIT_WAITERS`
broadcasts wait for their commit at once, so commit waits cannot take every worker thread
from the queries.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf.message import Message
from pydantic import BaseModel, Field

from race_node.client.queries import (
    BAD_REQUEST_CODES,
    METHODS,
    NOT_FOUND_CODES,
    ChainQueries,
    QueryFailed,
    bad_request,
    to_json,
)
from race_node.client.rpc import CometRPC
from race_node.gateway.body_limit import BodySizeLimit
from race_node.gateway.broadcast import (
    ENVELOPE_BYTES,
    MAX_TX_BYTES,
    BroadcastFailed,
    CommitWaiters,
    CommitWaitersBusy,
    TxTooLarge,
    broadcast_tx,
)
from race_node.gateway.inference_routes import add_inference_routes
from race_node.gateway.proto_schema import message_schemas
from race_node.gateway.race_routes import add_race_routes
from race_node.gateway.rewards_routes import add_rewards_routes
from race_node.gateway.routing import JSON, NEXT_PAGE_KEY_HEADER, Page, PageParams, ok
from race_node.gateway.verification_routes import add_verification_routes
from race_protocol.gen.race.v1 import gov_pb2, models_pb2, query_pb2

# A tx of MAX_TX_BYTES is 4/3 as long in base64, plus the JSON object around it.
MAX_BODY_BYTES = 4 * -(-MAX_TX_BYTES // 3) + ENVELOPE_BYTES
# Sync routes run on a pool of 40 threads (anyio's default): commit waits get a fifth.
REST_COMMIT_WAITERS = 8
MODEL_STATUSES = ("proposed", "active", "retired")
PROPOSAL_STATUSES = tuple(
    name.removeprefix("PROPOSAL_STATUS_").lower() for name in gov_pb2.ProposalStatus.keys()[1:]
)


class BroadcastBody(BaseModel):
    """A signed ``race.v1.Tx``, base64-encoded."""

    tx_bytes: str = Field(description="the signed tx, standard base64")
    wait_for_commit: bool = Field(False, description="wait for the FinalizeBlock result")


def _status_code(failure: QueryFailed) -> int:
    if failure.unreachable:
        return 503
    if failure.code in NOT_FOUND_CODES:
        return 404
    if failure.code in BAD_REQUEST_CODES or failure.code >= 100:
        return 400
    return 502


def chain_router(queries: ChainQueries,
                 commit_waiters: CommitWaiters | None = None) -> APIRouter:
    """Routes for every ``race.v1.Query`` method and tx broadcast.

    ``commit_waiters`` bounds the broadcasts that wait for their commit at once (default
    :data:`REST_COMMIT_WAITERS`).
    """
    router = APIRouter()
    waiters = commit_waiters or CommitWaiters(REST_COMMIT_WAITERS)

    def answer(method: str, request: Message | None = None) -> JSON:
        return queries.call_json(method, request)

    def page_answer(method: str, request: Message | None, page: PageParams,
                    response: Response) -> JSON:
        found, next_key = queries.call_page(method, request, page.key, page.limit)
        response.headers[NEXT_PAGE_KEY_HEADER] = next_key
        return to_json(found)

    @router.get("/race/bank/v1/balances/{address}", tags=["bank"],
                summary="One account's balance", responses=ok("Balance"))
    def balance(address: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("Balance", query_pb2.QueryBalanceRequest(address=address))

    @router.get("/race/bank/v1/supply", tags=["bank"], summary="Total nicoin in existence",
                responses=ok("Supply"))
    def supply() -> JSON:
        return answer("Supply")

    @router.get("/race/bank/v1/params", tags=["bank"], summary="Bank parameters",
                responses=ok("BankParams"))
    def bank_params() -> JSON:
        return answer("BankParams")

    @router.get("/race/auth/v1/accounts/{address}", tags=["auth"],
                summary="One account's sequence and public key", responses=ok("Account"))
    def account(address: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("Account", query_pb2.QueryAccountRequest(address=address))

    @router.get("/race/auth/v1/params", tags=["auth"],
                summary="Tx limits and the minimum fee", responses=ok("AuthParams"))
    def auth_params() -> JSON:
        return answer("AuthParams")

    @router.get("/race/staking/v1/validators", tags=["staking"],
                summary="The validator set with power and operator", responses=ok("Validators"))
    def validators() -> JSON:
        return answer("Validators")

    @router.get("/race/epochs/v1/epoch", tags=["epochs"], summary="The current epoch",
                responses=ok("Epoch"))
    def epoch() -> JSON:
        return answer("Epoch")

    @router.get("/race/epochs/v1/params", tags=["epochs"], summary="Epoch parameters",
                responses=ok("EpochParams"))
    def epoch_params() -> JSON:
        return answer("EpochParams")

    @router.get("/race/pricing/v1/price", tags=["pricing"],
                summary="The price per unit of compute in force", responses=ok("Price"))
    def price() -> JSON:
        return answer("Price")

    @router.get("/race/pricing/v1/votes", tags=["pricing"], summary="Every stored price vote",
                responses=ok("PriceVotes"))
    def price_votes(page: Page, response: Response) -> JSON:
        return page_answer("PriceVotes", None, page, response)

    @router.get("/race/pricing/v1/votes/{voter}", tags=["pricing"],
                summary="One provider's price vote and voting weight", responses=ok("PriceVote"))
    def price_vote(voter: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("PriceVote", query_pb2.QueryPriceVoteRequest(voter=voter))

    @router.get("/race/pricing/v1/history", tags=["pricing"],
                summary="Price per unit of compute by epoch, newest first",
                responses=ok("PriceHistory"))
    def price_history(
        page: Page, response: Response,
        limit: Annotated[int, Query(ge=0, description=(
            "most recent epochs in a page (with page_limit, the smaller caps it); 0 for the "
            "page's default"))] = 0,
    ) -> JSON:
        return page_answer("PriceHistory", query_pb2.QueryPriceHistoryRequest(limit=limit),
                           page, response)

    @router.get("/race/pricing/v1/params", tags=["pricing"], summary="Pricing parameters",
                responses=ok("PricingParams"))
    def pricing_params() -> JSON:
        return answer("PricingParams")

    @router.get("/race/models/v1/models", tags=["models"],
                summary="Registry entries with their price per token", responses=ok("Models"))
    def models(
        page: Page, response: Response,
        status: Annotated[str | None, Query(description="proposed, active or retired")] = None,
    ) -> JSON:
        request = query_pb2.QueryModelsRequest()
        if status:
            if status not in MODEL_STATUSES:
                raise bad_request(f"status must be one of {', '.join(MODEL_STATUSES)}")
            request.status = models_pb2.ModelStatus.Value("MODEL_STATUS_" + status.upper())
        return page_answer("Models", request, page, response)

    @router.get("/race/models/v1/models/{model_id}", tags=["models"], summary="One model",
                responses=ok("Model"))
    def model(model_id: str) -> JSON:
        return answer("Model", query_pb2.QueryModelRequest(id=model_id))

    @router.get("/race/models/v1/pricing", tags=["models"],
                summary="Active models and their price per token now", responses=ok("ModelPricing"))
    def model_pricing(page: Page, response: Response) -> JSON:
        return page_answer("ModelPricing", None, page, response)

    @router.get("/race/models/v1/params", tags=["models"], summary="Registry parameters",
                responses=ok("ModelsParams"))
    def models_params() -> JSON:
        return answer("ModelsParams")

    @router.get("/race/gov/v1/proposals", tags=["gov"], summary="Proposals by id",
                responses=ok("Proposals"))
    def proposals(
        page: Page, response: Response,
        status: Annotated[str | None, Query(
            description="one of " + ", ".join(PROPOSAL_STATUSES))] = None,
    ) -> JSON:
        request = query_pb2.QueryProposalsRequest()
        if status:
            if status not in PROPOSAL_STATUSES:
                raise bad_request(f"status must be one of {', '.join(PROPOSAL_STATUSES)}")
            request.status = gov_pb2.ProposalStatus.Value("PROPOSAL_STATUS_" + status.upper())
        return page_answer("Proposals", request, page, response)

    @router.get("/race/gov/v1/proposals/{proposal_id}", tags=["gov"], summary="One proposal",
                responses=ok("Proposal"))
    def proposal(proposal_id: Annotated[int, Path(ge=1)]) -> JSON:
        return answer("Proposal", query_pb2.QueryProposalRequest(proposal_id=proposal_id))

    @router.get("/race/gov/v1/proposals/{proposal_id}/deposits", tags=["gov"],
                summary="A proposal's deposits", responses=ok("Deposits"))
    def deposits(proposal_id: Annotated[int, Path(ge=1)], page: Page,
                 response: Response) -> JSON:
        return page_answer("Deposits", query_pb2.QueryDepositsRequest(proposal_id=proposal_id),
                           page, response)

    @router.get("/race/gov/v1/proposals/{proposal_id}/votes", tags=["gov"],
                summary="A proposal's votes", responses=ok("Votes"))
    def votes(proposal_id: Annotated[int, Path(ge=1)], page: Page,
              response: Response) -> JSON:
        return page_answer("Votes", query_pb2.QueryVotesRequest(proposal_id=proposal_id),
                           page, response)

    @router.get("/race/gov/v1/proposals/{proposal_id}/tally", tags=["gov"],
                summary="Final tally, or the running count with today's weights",
                responses=ok("Tally"))
    def tally(proposal_id: Annotated[int, Path(ge=1)]) -> JSON:
        return answer("Tally", query_pb2.QueryTallyRequest(proposal_id=proposal_id))

    @router.get("/race/gov/v1/params", tags=["gov"], summary="Governance parameters",
                responses=ok("GovParams"))
    def gov_params() -> JSON:
        return answer("GovParams")

    @router.get("/race/beacon/v1/latest", tags=["beacon"],
                summary="The latest final beacon output", responses=ok("BeaconLatest"))
    def beacon_latest() -> JSON:
        return answer("BeaconLatest")

    @router.get("/race/beacon/v1/rounds/{round_id}", tags=["beacon"],
                summary="A round's status, participants, non-revealers and output",
                responses=ok("BeaconRound"))
    def beacon_round(
        round_id: Annotated[int, Path(ge=0, description="round; 0 for the round in progress")],
    ) -> JSON:
        return answer("BeaconRound", query_pb2.QueryBeaconRoundRequest(round=round_id))

    @router.get("/race/beacon/v1/rounds/{round_id}/deals/{dealer}", tags=["beacon"],
                summary="A deal of the round in progress", responses=ok("BeaconDeal"))
    def beacon_deal(round_id: Annotated[int, Path(ge=1)],
                    dealer: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("BeaconDeal", query_pb2.QueryBeaconDealRequest(round=round_id,
                                                                     dealer=dealer))

    @router.get("/race/beacon/v1/keys/{operator}", tags=["beacon"],
                summary="An operator's beacon encryption key", responses=ok("BeaconKey"))
    def beacon_key(operator: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("BeaconKey", query_pb2.QueryBeaconKeyRequest(operator=operator))

    @router.get("/race/beacon/v1/records/{address}", tags=["beacon"],
                summary="A participant's missed deals and reveals", responses=ok("BeaconRecord"))
    def beacon_record(address: Annotated[str, Path(description="race1... address")]) -> JSON:
        return answer("BeaconRecord", query_pb2.QueryBeaconRecordRequest(address=address))

    @router.get("/race/beacon/v1/params", tags=["beacon"], summary="Beacon parameters",
                responses=ok("BeaconParams"))
    def beacon_params() -> JSON:
        return answer("BeaconParams")

    add_inference_routes(router, answer)
    add_race_routes(router, answer, page_answer)
    add_rewards_routes(router, answer, page_answer)
    add_verification_routes(router, answer, page_answer)

    @router.post("/race/tx/v1/txs", tags=["tx"], summary="Broadcast a signed tx",
                responses=ok("BroadcastTx"))
    def broadcast(body: Annotated[BroadcastBody, Body()]) -> JSON:
        try:
            tx_bytes = base64.b64decode(body.tx_bytes, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("tx_bytes must be standard base64") from None
        return to_json(broadcast_tx(queries.rpc, tx_bytes, body.wait_for_commit,
                                    waiters=waiters))

    return router


def create_app(rpc_url: str, timeout: float = 10.0,
               commit_waiters: int = REST_COMMIT_WAITERS) -> FastAPI:
    """The REST gateway for the node at ``rpc_url``."""
    rpc = CometRPC(rpc_url, timeout=timeout)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        rpc.close()

    app = FastAPI(
        title="Race network gateway",
        version="1",
        description="Chain queries (race.v1.Query) and tx broadcast over a node's CometBFT RPC.",
        lifespan=lifespan,
    )
    app.state.rpc = rpc
    app.include_router(chain_router(ChainQueries(rpc), CommitWaiters(commit_waiters)))
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    default_openapi = app.openapi

    def openapi_with_proto_schemas() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = default_openapi()
            roots = [m.response_type.DESCRIPTOR for m in METHODS.values()]
            roots.append(query_pb2.BroadcastTxResponse.DESCRIPTOR)
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                message_schemas(roots))
            for operations in document["paths"].values():
                for operation in operations.values():
                    content = operation.get("responses", {}).get("200", {}).get("content", {})
                    schema = content.get("application/json", {}).get("schema", {})
                    if "$ref" in schema:  # the proto schema replaces the generic dict one
                        content["application/json"]["schema"] = {"$ref": schema["$ref"]}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi_with_proto_schemas  # type: ignore[method-assign]

    @app.exception_handler(QueryFailed)
    def query_failed(_request: Request, failure: QueryFailed) -> JSONResponse:
        return JSONResponse(status_code=_status_code(failure), content={
            "code": failure.code, "codespace": failure.codespace, "message": failure.log})

    @app.exception_handler(TxTooLarge)
    def tx_too_large(_request: Request, refused: TxTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413,
                            content={"code": 0, "codespace": "", "message": str(refused)})

    @app.exception_handler(CommitWaitersBusy)
    def commit_waiters_busy(_request: Request, busy: CommitWaitersBusy) -> JSONResponse:
        return JSONResponse(status_code=429, headers={"Retry-After": "1"},
                            content={"code": 0, "codespace": "", "message": str(busy)})

    @app.exception_handler(BroadcastFailed)
    def broadcast_failed(_request: Request, failure: BroadcastFailed) -> JSONResponse:
        return JSONResponse(status_code=503 if failure.unreachable else 504,
                            content={"code": 0, "codespace": "", "message": str(failure)})

    return app
