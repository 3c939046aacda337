"""The ``race.v1.Query`` methods as ABCI queries: one table the CLI, REST and gRPC all use.

Each method of the ``race.v1.Query`` service (proto/race/v1/query.proto) maps to the ABCI
query path a module answers (docs/modules.md section 11) and to the protobuf response the
module's JSON parses into. Every surface goes through :meth:`ChainQueries.call`, so the CLI,
the REST gateway and the gRPC gateway cannot disagree about an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from abci_app.core.errors import BAD_QUERY, UNKNOWN_QUERY_PATH
from abci_app.core.paging import MAX_PAGE_KEY_CHARS, MAX_PAGE_LIMIT
from abci_app.core.params import UNKNOWN_MODULE, UNKNOWN_PARAM
from abci_app.modules.auth import errors as auth_errors
from abci_app.modules.bank import errors as bank_errors
from abci_app.modules.beacon.errors import DEAL_NOT_FOUND, ROUND_NOT_FOUND
from abci_app.modules.gov.errors import PROPOSAL_NOT_FOUND
from abci_app.modules.inference.errors import KEY_NOT_FOUND, MODEL_NOT_SERVABLE
from abci_app.modules.models.errors import MODEL_NOT_FOUND
from abci_app.modules.race.errors import CYCLE_NOT_FOUND
from abci_app.modules.verification.errors import TASK_NOT_FOUND, WRONG_EPOCH
from race_node.client.rpc import CometRPC, RPCError
from race_protocol.errors import ErrorCode
from race_protocol.gen.race.v1 import (
    bank_pb2,
    gov_pb2,
    inference_pb2,
    models_pb2,
    params_pb2,
    pricing_pb2,
    query_pb2,
    rewards_pb2,
    verification_pb2,
)

# A proposal carries its messages as ``Any``: json_format resolves each "@type" in the
# default descriptor pool, so every module's messages are loaded before an answer is read.
PROPOSAL_MESSAGE_FILES = (bank_pb2.DESCRIPTOR, gov_pb2.DESCRIPTOR, models_pb2.DESCRIPTOR,
                          params_pb2.DESCRIPTOR, pricing_pb2.DESCRIPTOR,
                          rewards_pb2.DESCRIPTOR)


class QueryFailed(Exception):
    """The chain refused a query: ``code`` and ``log`` are the app's (compare ``code`` with a
    named :class:`ErrorCode`, e.g. ``PROPOSAL_NOT_FOUND.code``). ``code`` 0 with
    ``unreachable`` set means the node did not answer."""

    def __init__(self, code: int, codespace: str, log: str, unreachable: bool = False) -> None:
        super().__init__(log)
        self.code = code
        self.codespace = codespace
        self.log = log
        self.unreachable = unreachable



M = TypeVar("M", bound=Message)


def _codes(*named: ErrorCode) -> frozenset[int]:
    return frozenset(code.code for code in named)


# Refusals that mean "no such thing" (for HTTP 404 / gRPC NOT_FOUND).
NOT_FOUND_CODES = _codes(auth_errors.ACCOUNT_NOT_FOUND, MODEL_NOT_FOUND, PROPOSAL_NOT_FOUND,
                         ROUND_NOT_FOUND, DEAL_NOT_FOUND, KEY_NOT_FOUND, MODEL_NOT_SERVABLE,
                         CYCLE_NOT_FOUND, TASK_NOT_FOUND, WRONG_EPOCH)
# Refusals that mean "the request was malformed" (HTTP 400 / gRPC INVALID_ARGUMENT).
BAD_REQUEST_CODES = _codes(UNKNOWN_QUERY_PATH, BAD_QUERY, UNKNOWN_MODULE, UNKNOWN_PARAM,
                           auth_errors.INVALID_ADDRESS, bank_errors.INVALID_ADDRESS)


def bad_request(log: str) -> QueryFailed:
    """A request refused before it reaches the chain, with the app's own BAD_QUERY code."""
    return QueryFailed(BAD_QUERY.code, BAD_QUERY.codespace, log)


def _amount(document: dict[str, Any]) -> dict[str, Any]:
    """The app answers amounts as ``{"amount", "display"}``; the proto field is
    ``amount_nicoin``."""
    adapted = {k: v for k, v in document.items() if k != "amount"}
    adapted["amount_nicoin"] = document["amount"]
    return adapted


def _params(document: Any) -> dict[str, Any]:
    """The app answers params bare; the response wraps them as ``{"params": ...}``."""
    return {"params": document}


def _account(document: Any) -> dict[str, Any]:
    return {"account": document}


def _unchanged(document: Any) -> Any:
    return document


def _model_status(request: Any) -> str:
    if not request.status:
        return ""
    return "/" + models_pb2.ModelStatus.Name(request.status).removeprefix("MODEL_STATUS_").lower()


def _proposal_status(request: Any) -> str:
    if not request.status:
        return ""
    name = gov_pb2.ProposalStatus.Name(request.status).removeprefix("PROPOSAL_STATUS_")
    return "/" + name.lower()


def _settled_path(request: Any) -> str:
    ids = list(request.request_ids)
    if not ids or any(not i or any(c not in "0123456789abcdefABCDEF" for c in i) for i in ids):
        raise bad_request("request_ids must be one or more hex request ids")
    return f"/inference/settled/{request.height}/{','.join(ids)}"


@dataclass(frozen=True)
class QueryMethod:
    """One ``race.v1.Query`` method: its messages and the ABCI path for a request."""

    name: str
    request_type: type[Message]
    response_type: type[Message]
    abci_path: Callable[[Any], str]
    # How the module's JSON answer becomes the response's proto3 JSON.
    adapt: Callable[[Any], Any] = _unchanged
    # A listing the chain answers a page at a time (abci_app.core.paging): the query's data
    # may name the page, and the answer's ``pagination.next_key`` names the next one.
    paged: bool = False


METHODS: dict[str, QueryMethod] = {m.name: m for m in (
    QueryMethod("Balance", query_pb2.QueryBalanceRequest, query_pb2.QueryBalanceResponse,
                lambda r: f"/bank/balance/{r.address}", _amount),
    QueryMethod("Supply", query_pb2.QuerySupplyRequest, query_pb2.QuerySupplyResponse,
                lambda r: "/bank/supply", _amount),
    QueryMethod("BankParams", query_pb2.QueryBankParamsRequest,
                query_pb2.QueryBankParamsResponse, lambda r: "/bank/params", _params),
    QueryMethod("Account", query_pb2.QueryAccountRequest, query_pb2.QueryAccountResponse,
                lambda r: f"/auth/account/{r.address}", _account),
    QueryMethod("AuthParams", query_pb2.QueryAuthParamsRequest,
                query_pb2.QueryAuthParamsResponse, lambda r: "/auth/params", _params),
    QueryMethod("Validators", query_pb2.QueryValidatorsRequest,
                query_pb2.QueryValidatorsResponse, lambda r: "/staking/validators"),
    QueryMethod("Epoch", query_pb2.QueryEpochRequest, query_pb2.QueryEpochResponse,
                lambda r: "/epochs/current"),
    QueryMethod("EpochParams", query_pb2.QueryEpochParamsRequest,
                query_pb2.QueryEpochParamsResponse, lambda r: "/epochs/params", _params),
    QueryMethod("Price", query_pb2.QueryPriceRequest, query_pb2.QueryPriceResponse,
                lambda r: "/pricing/price"),
    QueryMethod("PriceVote", query_pb2.QueryPriceVoteRequest, query_pb2.QueryPriceVoteResponse,
                lambda r: f"/pricing/vote/{r.voter}"),
    QueryMethod("PriceVotes", query_pb2.QueryPriceVotesRequest,
                query_pb2.QueryPriceVotesResponse, lambda r: "/pricing/votes", paged=True),
    QueryMethod("PriceHistory", query_pb2.QueryPriceHistoryRequest,
                query_pb2.QueryPriceHistoryResponse,
                lambda r: f"/pricing/history/{r.limit}" if r.limit else "/pricing/history",
                paged=True),
    QueryMethod("PricingParams", query_pb2.QueryPricingParamsRequest,
                query_pb2.QueryPricingParamsResponse, lambda r: "/pricing/params", _params),
    QueryMethod("Models", query_pb2.QueryModelsRequest, query_pb2.QueryModelsResponse,
                lambda r: "/models/list" + _model_status(r), paged=True),
    QueryMethod("Model", query_pb2.QueryModelRequest, query_pb2.QueryModelResponse,
                lambda r: f"/models/model/{r.id}"),
    QueryMethod("ModelPricing", query_pb2.QueryModelPricingRequest,
                query_pb2.QueryModelPricingResponse, lambda r: "/models/pricing", paged=True),
    QueryMethod("ModelsParams", query_pb2.QueryModelsParamsRequest,
                query_pb2.QueryModelsParamsResponse, lambda r: "/models/params", _params),
    QueryMethod("Proposals", query_pb2.QueryProposalsRequest, query_pb2.QueryProposalsResponse,
                lambda r: "/gov/proposals" + _proposal_status(r), paged=True),
    QueryMethod("Proposal", query_pb2.QueryProposalRequest, query_pb2.QueryProposalResponse,
                lambda r: f"/gov/proposal/{r.proposal_id}"),
    QueryMethod("Deposits", query_pb2.QueryDepositsRequest, query_pb2.QueryDepositsResponse,
                lambda r: f"/gov/deposits/{r.proposal_id}", paged=True),
    QueryMethod("Votes", query_pb2.QueryVotesRequest, query_pb2.QueryVotesResponse,
                lambda r: f"/gov/votes/{r.proposal_id}", paged=True),
    QueryMethod("Tally", query_pb2.QueryTallyRequest, query_pb2.QueryTallyResponse,
                lambda r: f"/gov/tally/{r.proposal_id}"),
    QueryMethod("GovParams", query_pb2.QueryGovParamsRequest, query_pb2.QueryGovParamsResponse,
                lambda r: "/gov/params", _params),
    QueryMethod("BeaconLatest", query_pb2.QueryBeaconLatestRequest,
                query_pb2.QueryBeaconLatestResponse, lambda r: "/beacon/latest"),
    QueryMethod("BeaconRound", query_pb2.QueryBeaconRoundRequest,
                query_pb2.QueryBeaconRoundResponse, lambda r: f"/beacon/round/{r.round}"),
    QueryMethod("BeaconKey", query_pb2.QueryBeaconKeyRequest, query_pb2.QueryBeaconKeyResponse,
                lambda r: f"/beacon/key/{r.operator}"),
    QueryMethod("BeaconDeal", query_pb2.QueryBeaconDealRequest,
                query_pb2.QueryBeaconDealResponse,
                lambda r: f"/beacon/deal/{r.round}/{r.dealer}"),
    QueryMethod("BeaconRecord", query_pb2.QueryBeaconRecordRequest,
                query_pb2.QueryBeaconRecordResponse, lambda r: f"/beacon/record/{r.address}"),
    QueryMethod("BeaconParams", query_pb2.QueryBeaconParamsRequest,
                query_pb2.QueryBeaconParamsResponse, lambda r: "/beacon/params", _params),
    QueryMethod("ApiKey", inference_pb2.QueryApiKeyRequest, inference_pb2.QueryApiKeyResponse,
                lambda r: f"/inference/key/{r.key_hash}"),
    QueryMethod("ApiKeys", inference_pb2.QueryApiKeysRequest, inference_pb2.QueryApiKeysResponse,
                lambda r: f"/inference/keys/{r.owner}"),
    QueryMethod("InferenceModels", inference_pb2.QueryInferenceModelsRequest,
                inference_pb2.QueryInferenceModelsResponse, lambda r: "/inference/models"),
    QueryMethod("InferenceProviders", inference_pb2.QueryInferenceProvidersRequest,
                inference_pb2.QueryInferenceProvidersResponse,
                lambda r: f"/inference/providers/{r.model}"),
    QueryMethod("Relay", inference_pb2.QueryRelayRequest, inference_pb2.QueryRelayResponse,
                lambda r: f"/inference/relay/{r.public_key}"),
    QueryMethod("SettledTickets", inference_pb2.QuerySettledTicketsRequest,
                inference_pb2.QuerySettledTicketsResponse,
                lambda r: _settled_path(r)),
    QueryMethod("InferenceParams", inference_pb2.QueryInferenceParamsRequest,
                inference_pb2.QueryInferenceParamsResponse, lambda r: "/inference/params",
                _params),
    QueryMethod("Tokenomics", rewards_pb2.QueryTokenomicsRequest,
                rewards_pb2.QueryTokenomicsResponse, lambda r: "/rewards/tokenomics"),
    QueryMethod("HeldRewards", rewards_pb2.QueryHeldRewardsRequest,
                rewards_pb2.QueryHeldRewardsResponse, lambda r: f"/rewards/held/{r.operator}"),
    QueryMethod("RewardsReputation", rewards_pb2.QueryRewardsReputationRequest,
                rewards_pb2.QueryRewardsReputationResponse,
                lambda r: f"/rewards/reputation/{r.operator}"),
    QueryMethod("RewardsReputations", rewards_pb2.QueryRewardsReputationsRequest,
                rewards_pb2.QueryRewardsReputationsResponse, lambda r: "/rewards/reputations",
                paged=True),
    QueryMethod("RewardsCycle", rewards_pb2.QueryRewardsCycleRequest,
                rewards_pb2.QueryRewardsCycleResponse, lambda r: f"/rewards/cycle/{r.cycle}",
                paged=True),
    QueryMethod("RewardsParams", rewards_pb2.QueryRewardsParamsRequest,
                rewards_pb2.QueryRewardsParamsResponse, lambda r: "/rewards/params", _params),
    QueryMethod("RaceStatus", query_pb2.QueryRaceStatusRequest,
                query_pb2.QueryRaceStatusResponse, lambda r: "/race/status"),
    QueryMethod("RaceCycle", query_pb2.QueryRaceCycleRequest, query_pb2.QueryRaceCycleResponse,
                lambda r: f"/race/cycle/{r.cycle}"),
    QueryMethod("RaceResults", query_pb2.QueryRaceResultsRequest,
                query_pb2.QueryRaceResultsResponse, lambda r: f"/race/results/{r.cycle}",
                paged=True),
    QueryMethod("RaceSamples", query_pb2.QueryRaceSamplesRequest,
                query_pb2.QueryRaceSamplesResponse,
                lambda r: f"/race/samples/{r.cycle}/{r.operator}"),
    QueryMethod("RaceProviders", query_pb2.QueryRaceProvidersRequest,
                query_pb2.QueryRaceProvidersResponse, lambda r: "/race/providers",
                paged=True),
    QueryMethod("RaceProvider", query_pb2.QueryRaceProviderRequest,
                query_pb2.QueryRaceProviderResponse, lambda r: f"/race/provider/{r.operator}"),
    QueryMethod("RaceParams", query_pb2.QueryRaceParamsRequest,
                query_pb2.QueryRaceParamsResponse, lambda r: "/race/params", _params),
    QueryMethod("VerificationTask", verification_pb2.QueryVerificationTaskRequest,
                verification_pb2.QueryVerificationTaskResponse,
                lambda r: f"/verification/task/{r.id}"),
    QueryMethod("VerificationTasks", verification_pb2.QueryVerificationTasksRequest,
                verification_pb2.QueryVerificationTasksResponse,
                lambda r: f"/verification/tasks/{r.height}", paged=True),
    QueryMethod("VerificationEpoch", verification_pb2.QueryVerificationEpochRequest,
                verification_pb2.QueryVerificationEpochResponse,
                lambda r: f"/verification/epoch/{r.epoch}"),
    QueryMethod("Disputes", verification_pb2.QueryDisputesRequest,
                verification_pb2.QueryDisputesResponse, lambda r: "/verification/disputes",
                paged=True),
    QueryMethod("Verifier", verification_pb2.QueryVerifierRequest,
                verification_pb2.QueryVerifierResponse,
                lambda r: f"/verification/verifier/{r.verifier}"),
    QueryMethod("VerificationParams", verification_pb2.QueryVerificationParamsRequest,
                verification_pb2.QueryVerificationParamsResponse,
                lambda r: "/verification/params", _params),
)}


PAGED_METHODS = frozenset(name for name, method in METHODS.items() if method.paged)
# Pages :meth:`ChainQueries.pages` and :meth:`ChainQueries.call_all` follow at most: with
# the chain's default of 100 rows a page, 100,000 rows.
MAX_PAGES = 1_000


def page_data(method: str, page_key: str = "", page_limit: int = 0) -> bytes:
    """The query data that asks ``method`` for the page starting at ``page_key`` ("": the
    first) of at most ``page_limit`` rows (0: the chain's default); BAD_QUERY for a method
    that is not a paged listing or a page the chain could not read."""
    if not page_key and not page_limit:
        return b""
    if method not in PAGED_METHODS:
        raise bad_request(f"{method} is not a paged listing: it takes no page key or limit")
    if len(page_key) > MAX_PAGE_KEY_CHARS:
        raise bad_request(f"the page key must be at most {MAX_PAGE_KEY_CHARS} characters")
    if not 0 <= page_limit <= MAX_PAGE_LIMIT:
        raise bad_request(f"the page limit must be from 1 to {MAX_PAGE_LIMIT}")
    asked: dict[str, Any] = {"key": page_key}
    if page_limit:
        asked["limit"] = page_limit
    return json.dumps(asked).encode()


def _next_key(document: Any) -> str:
    pagination = document.get("pagination") if isinstance(document, dict) else None
    if isinstance(pagination, dict):
        return str(pagination.get("next_key") or "")
    return ""


def merge_pages(first: Message, page: Message) -> None:
    """Append ``page``'s rows to ``first``: every repeated field of the response grows; the
    rest (totals, the cycle, the price) stays as the first page read it."""
    for field in first.DESCRIPTOR.fields:
        if field.is_repeated:
            getattr(first, field.name).extend(getattr(page, field.name))


def to_json(message: Message) -> dict[str, Any]:
    """The canonical JSON of an answer: proto field names, every field present, 64-bit
    integers as strings (proto3 JSON), enums by name."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def check_path_segment(value: str, what: str) -> str:
    """Refuse values that would change the query path (a '/' or an empty segment)."""
    if not value or "/" in value or value in (".", ".."):
        raise bad_request(f"bad {what} {value!r}")
    return value


class ChainQueries:
    """Answers ``race.v1.Query`` methods from a node, through CometBFT's ``abci_query``."""

    def __init__(self, rpc: CometRPC) -> None:
        self.rpc = rpc

    def call(self, method: str, request: Message | None = None) -> Message:
        """Run ``method`` and return its protobuf response; raises :class:`QueryFailed`."""
        return self.call_at(method, request)[0]

    def call_at(self, method: str, request: Message | None = None) -> tuple[Message, int]:
        """:meth:`call`, with the committed height the answer reflects."""
        response, height, _next = self._query(method, request, b"")
        return response, height

    def call_page(self, method: str, request: Message | None = None, page_key: str = "",
                  page_limit: int = 0) -> tuple[Message, str]:
        """One page of the listing ``method`` (one of :data:`PAGED_METHODS`): the page that
        starts at ``page_key`` ("": the first), of at most ``page_limit`` rows (0: the
        chain's default), and the key of the next page ("" after the last). A key the chain
        cannot read raises :class:`QueryFailed` with BAD_QUERY."""
        response, _height, next_key = self._query(method, request,
                                                   page_data(method, page_key, page_limit))
        return response, next_key

    def pages(self, method: str, request: Message | None = None, page_key: str = "",
              page_limit: int = 0, max_pages: int = MAX_PAGES
              ) -> Iterator[tuple[Message, str]]:
        """Every page of ``method`` from ``page_key`` to the last, each with the key of the
        page after it; stops after ``max_pages`` pages (the last one yielded then still
        names the next key)."""
        if method not in PAGED_METHODS:
            raise bad_request(f"{method} is not a paged listing")
        key = page_key
        for _ in range(max_pages):
            response, key = self.call_page(method, request, key, page_limit)
            yield response, key
            if not key:
                return

    def call_all(self, method: str, request: Message | None = None, limit: int = 0,
                 max_pages: int = MAX_PAGES) -> tuple[Message, str]:
        """The listing ``method`` read page after page into one response (its repeated
        fields hold every page's rows, in order), reading at most ``limit`` rows (0: all)
        and ``max_pages`` pages; with the key where reading stopped ("" when the listing
        was read to its end). A response with a ``pagination`` field carries that key too.

        A filtered listing (proposals or models by status) counts the rows it reads, so it
        may list fewer than ``limit``.
        """
        if limit < 0:
            raise bad_request("limit must be 0 (all) or more")
        merged: Message | None = None
        key, rows_read = "", 0
        for _ in range(max_pages):
            asked = min(limit - rows_read, MAX_PAGE_LIMIT) if limit else 0
            page, key = self.call_page(method, request, key, asked)
            if merged is None:
                merged = page
            else:
                merge_pages(merged, page)
            rows_read += asked
            if not key or (limit and rows_read >= limit):
                break
        assert merged is not None
        if "pagination" in merged.DESCRIPTOR.fields_by_name:
            merged.pagination.next_key = key  # type: ignore[attr-defined]
        return merged, key

    def _query(self, method: str, request: Message | None, data: bytes
               ) -> tuple[Message, int, str]:
        """The answer to ``method``, its height and its ``pagination.next_key``."""
        spec = METHODS[method]
        if request is None:
            request = spec.request_type()
        for field in ("voter", "id", "address", "key_hash", "owner", "model", "public_key",
                      "operator", "verifier"):
            if spec.request_type.DESCRIPTOR.fields_by_name.get(field) is not None:
                check_path_segment(getattr(request, field), field)
        path = spec.abci_path(request)
        try:
            result = self.rpc.abci_query(path, data) if data else self.rpc.abci_query(path)
        except RPCError as exc:
            raise QueryFailed(0, "", str(exc), unreachable=True) from exc
        if not result.ok:
            raise QueryFailed(result.code, result.codespace, result.log)
        response = spec.response_type()
        document = result.json()
        try:
            json_format.ParseDict(spec.adapt(document), response,
                                  ignore_unknown_fields=True)
        except json_format.ParseError as unreadable:
            # e.g. a proposal message of a type this client's protos do not have yet
            raise QueryFailed(0, "", f"cannot read the node's answer to {method}: "
                                     f"{unreadable}; is this client older than the chain?"
                              ) from unreadable
        return response, result.height, _next_key(document)

    def call_json(self, method: str, request: Message | None = None) -> dict[str, Any]:
        """:meth:`call`, as canonical JSON."""
        return to_json(self.call(method, request))

    def _typed(self, method: str, request: Message | None, response_type: type[M]) -> M:
        return self._typed_at(method, request, response_type)[0]

    def _typed_at(self, method: str, request: Message | None,
                  response_type: type[M]) -> tuple[M, int]:
        response, height = self.call_at(method, request)
        if not isinstance(response, response_type):
            raise TypeError(f"{method} answers {type(response).__name__}, "
                            f"not {response_type.__name__}")
        return response, height

    # --- typed shortcuts for what every client needs -----------------------------------

    def balance_nicoin(self, address: str) -> int:
        """An account's balance in nicoin (0 for an account that never received coins)."""
        return self._typed("Balance", query_pb2.QueryBalanceRequest(address=address),
                           query_pb2.QueryBalanceResponse).amount_nicoin

    def account(self, address: str) -> query_pb2.Account | None:
        """The account (sequence, public key), or None before it first receives coins."""
        return self.account_at(address)[0]

    def account_at(self, address: str) -> tuple[query_pb2.Account | None, int]:
        """:meth:`account`, with the committed height it reflects (0 when not found)."""
        try:
            response, height = self._typed_at(
                "Account", query_pb2.QueryAccountRequest(address=address),
                query_pb2.QueryAccountResponse)
        except QueryFailed as failure:
            if auth_errors.ACCOUNT_NOT_FOUND.matches(failure.code):
                return None, 0
            raise
        return response.account, height

    def auth_params(self) -> query_pb2.AuthParams:
        """Envelope limits and the minimum fee every tx must pay."""
        return self._typed("AuthParams", None, query_pb2.QueryAuthParamsResponse).params

    def validators(self) -> list[query_pb2.Validator]:
        """The validator set, with power and operator account."""
        return list(self._typed("Validators", None,
                                query_pb2.QueryValidatorsResponse).validators)
