"""The ``InferenceEngine`` gRPC service: wire types in, engine calls, wire types out.

Error mapping (every rejection leaves the engine serving):
unknown model -> NOT_FOUND, bad parameters or over a limit -> INVALID_ARGUMENT,
full queue -> RESOURCE_EXHAUSTED, draining or a dead engine -> UNAVAILABLE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from gpu_sidecar.inference.engine import InferenceEngine, ServedModel
from gpu_sidecar.inference.replay import ClaimedPosition, ReplayThresholds, judge
from gpu_sidecar.inference.requests import (
    Draining,
    InvalidRequest,
    Overloaded,
    RequestedSampling,
    Sampling,
    UnknownModel,
    resolve_sampling,
)
from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

_STATUS = {
    UnknownModel: grpc.StatusCode.NOT_FOUND,
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Draining: grpc.StatusCode.UNAVAILABLE,
}


def requested_sampling(params: pb.SamplingParams) -> RequestedSampling:
    """The client's sampling parameters, unset fields left as None."""
    def opt(name: str) -> Any:
        return getattr(params, name) if params.HasField(name) else None

    return RequestedSampling(
        temperature=opt("temperature"),
        top_p=opt("top_p"),
        max_tokens=opt("max_tokens"),
        stop=tuple(params.stop),
        seed=opt("seed"),
        n=opt("n"),
        top_logprobs=opt("top_logprobs"),
        wants_logprobs=params.logprobs,
    )


def prompt_token_ids(model: ServedModel,
                     request: pb.GenerateRequest | pb.ReplayRequest) -> list[int]:
    """Render the request's chat messages or plain prompt into token ids."""
    which = request.WhichOneof("input")
    if which == "chat":
        return model.render_chat([(m.role, m.content) for m in request.chat.messages])
    if which == "prompt":
        return model.render_prompt(request.prompt)
    raise InvalidRequest("the request needs chat messages or a prompt")


def token_logprobs(token_ids: Sequence[int], logprobs: Any,
                   top_k: int) -> list[pb.TokenLogprobs]:
    """vLLM's per-position logprob maps as wire messages, top k sorted by rank."""
    if logprobs is None:
        return []
    entries = []
    for token_id, position in zip(token_ids, logprobs, strict=False):
        chosen = position.get(token_id)
        ranked = sorted(
            ((tid, lp) for tid, lp in position.items() if lp.rank is not None and lp.rank <= top_k),
            key=lambda item: item[1].rank,
        )
        entries.append(pb.TokenLogprobs(
            token_id=token_id,
            token=(chosen.decoded_token or "") if chosen is not None else "",
            logprob=chosen.logprob if chosen is not None else float("-inf"),
            top=[pb.TopLogprob(token_id=tid, token=lp.decoded_token or "", logprob=lp.logprob)
                 for tid, lp in ranked],
        ))
    return entries


def _finish(completion: Any) -> tuple[str, str]:
    reason = completion.finish_reason or ""
    stop_sequence = completion.stop_reason if isinstance(completion.stop_reason, str) else ""
    return reason, stop_sequence


def _completion_fields(completion: Any, top_logprobs: int) -> dict[str, Any]:
    """One completion's text, tokens, logprobs and finish: the fields that a unary
    ``Completion`` and a streamed ``GenerateChunk`` both carry."""
    reason, stop_sequence = _finish(completion)
    return {
        "index": completion.index,
        "text": completion.text,
        "token_ids": list(completion.token_ids),
        "logprobs": token_logprobs(completion.token_ids, completion.logprobs, top_logprobs),
        "finish_reason": reason,
        "stop_sequence": stop_sequence,
    }


def _usage(prompt_tokens: int, completion_tokens: int) -> pb.TokenUsage:
    return pb.TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                         total_tokens=prompt_tokens + completion_tokens)


class InferenceEngineServicer(pb_grpc.InferenceEngineServicer):
    """Serves generation, replay, model listing and health from an :class:`InferenceEngine`."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine

    async def _abort(self, context: grpc.aio.ServicerContext, error: BaseException) -> None:
        for kind, code in _STATUS.items():
            if isinstance(error, kind):
                await context.abort(code, str(error))
        if type(error).__name__ == "EngineDeadError":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the model's engine has stopped")
        if isinstance(error, ValueError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        log.exception("inference request failed", exc_info=error)
        await context.abort(grpc.StatusCode.INTERNAL, f"inference failed: {type(error).__name__}")

    def _prepare(self, request: pb.GenerateRequest) -> tuple[ServedModel, list[int], Sampling]:
        model = self.engine.model(request.model)
        prompt_ids = prompt_token_ids(model, request)
        sampling = resolve_sampling(requested_sampling(request.sampling), model.spec,
                                    len(prompt_ids))
        return model, prompt_ids, sampling

    async def Generate(self, request: pb.GenerateRequest,
                       context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        try:
            model, prompt_ids, sampling = self._prepare(request)
            with self.engine.admit(model, sampling.n) as engine_request_id:
                # the engine always gets a fresh id: a client's id may repeat
                request_id = request.request_id or engine_request_id
                final = None
                async for output in model.generate(prompt_ids, sampling, engine_request_id,
                                                   stream=False):
                    final = output
        except Exception as error:  # mapped to a status; the engine keeps serving
            await self._abort(context, error)
            raise
        assert final is not None
        choices = [pb.Completion(**_completion_fields(completion, sampling.top_logprobs))
                   for completion in sorted(final.outputs, key=lambda c: c.index)]
        completion_tokens = sum(len(choice.token_ids) for choice in choices)
        return pb.GenerateResponse(
            request_id=request_id,
            model=model.spec.name,
            choices=choices,
            usage=_usage(len(prompt_ids), completion_tokens),
            prompt_token_ids=prompt_ids,
        )

    async def GenerateStream(self, request: pb.GenerateRequest,
                             context: grpc.aio.ServicerContext) -> AsyncIterator[pb.GenerateChunk]:
        try:
            model, prompt_ids, sampling = self._prepare(request)
            admission = self.engine.admit(model, sampling.n)
            engine_request_id = admission.__enter__()
        except Exception as error:
            await self._abort(context, error)
            raise
        request_id = request.request_id or engine_request_id
        completion_tokens = 0
        try:
            async for output in model.generate(prompt_ids, sampling, engine_request_id,
                                               stream=True):
                for completion in output.outputs:
                    completion_tokens += len(completion.token_ids)
                    yield pb.GenerateChunk(
                        request_id=request_id,
                        model=model.spec.name,
                        **_completion_fields(completion, sampling.top_logprobs),
                    )
            yield pb.GenerateChunk(
                request_id=request_id,
                model=model.spec.name,
                usage=_usage(len(prompt_ids), completion_tokens),
            )
        except Exception as error:  # mapped to a status; the engine keeps serving
            await self._abort(context, error)
        finally:
            admission.__exit__(None, None, None)

    async def Replay(self, request: pb.ReplayRequest,
                     context: grpc.aio.ServicerContext) -> pb.ReplayResponse:
        started = time.perf_counter()
        try:
            model = self.engine.model(request.model)
            verdict = await self._replay(model, request)
        except Exception as error:
            await self._abort(context, error)
            raise
        spec = model.spec
        return pb.ReplayResponse(
            accepted=verdict.accepted,
            similarity=verdict.similarity,
            threshold=spec.replay_min_similarity,
            mean_distance=verdict.mean_distance,
            max_position_distance=verdict.max_position_distance,
            worst_position=verdict.worst_position,
            reason=verdict.reason,
            positions_checked=verdict.positions_checked,
            seconds=time.perf_counter() - started,
        )

    async def _replay(self, model: ServedModel, request: pb.ReplayRequest) -> Any:
        spec = model.spec
        prompt_ids = prompt_token_ids(model, request)
        output_ids = list(request.output_token_ids)
        if not output_ids:
            raise InvalidRequest("replay needs the output tokens")
        if len(prompt_ids) > spec.max_prompt_tokens:
            raise InvalidRequest(f"prompt is {len(prompt_ids)} tokens, over model "
                                 f"{spec.name!r}'s limit of {spec.max_prompt_tokens}")
        if len(prompt_ids) + len(output_ids) >= spec.max_model_len:
            raise InvalidRequest("prompt plus output exceed the model's context length")
        vocab = model.engine.model_config.get_vocab_size()
        if any(not 0 <= t < vocab for t in output_ids):
            raise InvalidRequest(f"output token ids must be in [0, {vocab})")
        requested = requested_sampling(request.sampling)
        claims = [
            ClaimedPosition(token_id=entry.token_id, logprob=entry.logprob,
                            top=tuple((top.token_id, top.logprob) for top in entry.top))
            for entry in request.output_logprobs
        ]
        with self.engine.admit(model) as request_id:
            positions = await model.prompt_logprobs(prompt_ids + output_ids,
                                                    spec.replay_top_logprobs, request_id)
        replayed = [p or {} for p in positions[len(prompt_ids):]]
        return judge(
            output_ids,
            claims,
            replayed,
            finish_reason=request.finish_reason,
            temperature=1.0 if requested.temperature is None else requested.temperature,
            max_tokens=requested.max_tokens,
            stop=requested.stop,
            eos_token_ids=model.eos_token_ids,
            decode=lambda ids: model.tokenizer.decode(list(ids), skip_special_tokens=True),
            thresholds=ReplayThresholds(
                min_similarity=spec.replay_min_similarity,
                max_position_distance=spec.replay_max_position_distance,
                greedy_tolerance=spec.replay_greedy_tolerance,
                min_token_logprob=spec.replay_min_token_logprob,
            ),
        )

    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[
            pb.ModelInfo(
                name=spec.name,
                path=str(spec.path),
                dtype=spec.dtype,
                max_model_len=spec.max_model_len,
                max_prompt_tokens=spec.max_prompt_tokens,
                max_output_tokens=spec.max_output_tokens,
                max_queued_requests=spec.max_queued_requests,
                default_top_logprobs=spec.default_top_logprobs,
                replay_threshold=spec.replay_min_similarity,
            )
            for spec in (self.engine.models[name].spec for name in sorted(self.engine.models))
        ])

    async def Health(self, request: pb.InferenceHealthRequest,
                     context: grpc.aio.ServicerContext) -> pb.InferenceHealthResponse:
        loads = []
        for name in sorted(self.engine.models):
            model = self.engine.models[name]
            healthy = not model.engine.errored
            unfinished = model.unfinished_requests()
            running = min(model.load.running_requests, unfinished)
            loads.append(pb.ModelLoad(
                model=name,
                running_requests=running,
                waiting_requests=max(unfinished - running, 0),
                kv_cache_usage=model.load.kv_cache_usage,
                admitted_requests=model.admitted,
                healthy=healthy,
            ))
        return pb.InferenceHealthResponse(
            serving=not self.engine.draining and all(load.healthy for load in loads),
            draining=self.engine.draining,
            models=loads,
        )


def inference_engine_registration(engine: InferenceEngine) -> Callable[[grpc.aio.Server], None]:
    """The callable that adds the InferenceEngine service to the sidecar's gRPC server."""
    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_InferenceEngineServicer_to_server(InferenceEngineServicer(engine), server)

    return register
