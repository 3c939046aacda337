"""The inference engine: one vLLM ``AsyncLLM`` per served model, with admission control.

DESIGN.md section 6.3: the executor's sidecar runs vLLM, streams tokens and keeps the
top-k logprobs of every generated position so a verifier can check the result. This
module owns the engines, renders prompts with each model's chat template, admits or
refuses requests (queue and token limits) and drains on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpu_sidecar.inference.config import ModelSpec, check_unique
from gpu_sidecar.inference.requests import (
    Draining,
    InvalidRequest,
    Overloaded,
    Sampling,
    UnknownModel,
    check_messages,
)

if TYPE_CHECKING:
    from vllm.outputs import RequestOutput
    from vllm.v1.engine.async_llm import AsyncLLM

log = logging.getLogger(__name__)


@dataclass
class ModelLoad:
    """The scheduler's view of a model after its latest step."""

    running_requests: int = 0
    waiting_requests: int = 0
    kv_cache_usage: float = 0.0


def _load_recorder_factory(load: ModelLoad) -> Any:
    """A vLLM stat logger that keeps the latest scheduler counts in ``load``."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class LoadRecorder(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.engine_index = engine_index

        def record(self, scheduler_stats: Any, iteration_stats: Any,
                   mm_cache_stats: Any = None, engine_idx: int = 0) -> None:
            if scheduler_stats is not None:
                load.running_requests = scheduler_stats.num_running_reqs
                load.waiting_requests = (scheduler_stats.num_waiting_reqs
                                         + scheduler_stats.num_skipped_waiting_reqs)
                load.kv_cache_usage = float(scheduler_stats.kv_cache_usage)

        def log_engine_initialized(self) -> None:
            return None

    return LoadRecorder


@dataclass
class ServedModel:
    """One model behind one vLLM engine, with its tokenizer and admission counter."""

    spec: ModelSpec
    engine: AsyncLLM
    tokenizer: Any
    eos_token_ids: frozenset[int]
    load: ModelLoad = field(default_factory=ModelLoad)
    admitted: int = 0

    def render_chat(self, messages: list[tuple[str, str]]) -> list[int]:
        """Token ids of ``messages`` under the model's chat template, ready for an answer."""
        check_messages(messages)
        text = self.tokenizer.apply_chat_template(
            [{"role": role, "content": content} for role, content in messages],
            add_generation_prompt=True,
            tokenize=False,
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render_prompt(self, prompt: str) -> list[int]:
        """Token ids of a plain prompt, tokenized as the model's tokenizer does by default."""
        if not prompt:
            raise InvalidRequest("prompt is empty")
        return list(self.tokenizer(prompt)["input_ids"])

    def unfinished_requests(self) -> int:
        """Requests the engine's front end still tracks (running or waiting)."""
        return int(self.engine.get_num_unfinished_requests())

    async def generate(self, prompt_token_ids: list[int], sampling: Sampling,
                       request_id: str, stream: bool) -> AsyncIterator[RequestOutput]:
        """Run one request; yields deltas when ``stream`` else the final output only.

        Closing the iterator early (a client that went away) aborts the request.
        """
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
            logprobs=sampling.top_logprobs,
            output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
        )
        prompt = TokensPrompt(prompt_token_ids=prompt_token_ids)
        generator = self.engine.generate(prompt, params, request_id)
        try:
            async for output in generator:
                yield output
        finally:
            await generator.aclose()

    async def prompt_logprobs(self, token_ids: list[int], top_k: int,
                              request_id: str) -> list[dict[int, float] | None]:
        """Teacher-forced prefill: for each position, the logprobs of the actual token
        and of the ``top_k`` most likely tokens given everything before it."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            max_tokens=1,
            temperature=0.0,
            prompt_logprobs=top_k,
            detokenize=False,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        final: RequestOutput | None = None
        async for output in self.engine.generate(
            TokensPrompt(prompt_token_ids=token_ids), params, request_id
        ):
            final = output
        if final is None or final.prompt_logprobs is None:
            raise RuntimeError("the engine returned no prompt logprobs")
        return [
            None if position is None else {tid: lp.logprob for tid, lp in position.items()}
            for position in final.prompt_logprobs
        ]


def _engine_args(spec: ModelSpec) -> Any:
    from vllm.engine.arg_utils import AsyncEngineArgs

    enforce_eager = spec.enforce_eager
    if enforce_eager is None:
        import torch

        enforce_eager = not torch.cuda.is_available()
    return AsyncEngineArgs(
        model=str(spec.path),
        tokenizer=str(spec.path),
        served_model_name=[spec.name],
        dtype=spec.dtype,  # type: ignore[arg-type]  # checked by ModelSpec.validate
        max_model_len=spec.max_model_len,
        max_num_seqs=spec.max_num_seqs,
        max_logprobs=max(spec.replay_top_logprobs, spec.default_top_logprobs, 20),
        enforce_eager=enforce_eager,
        seed=spec.seed,
        disable_log_stats=False,
        enable_log_requests=False,
        kv_cache_memory_bytes=int(spec.kv_cache_gib * 2**30),
    )


def start_model(spec: ModelSpec) -> ServedModel:
    """Start one vLLM engine for ``spec`` (blocks until it is ready: about a minute on CPU)."""
    from transformers import AutoTokenizer
    from vllm.v1.engine.async_llm import AsyncLLM

    load = ModelLoad()
    engine = AsyncLLM.from_engine_args(
        _engine_args(spec), stat_loggers=[_load_recorder_factory(load)]
    )
    tokenizer = AutoTokenizer.from_pretrained(str(spec.path))
    eos = set()
    generation_eos = engine.model_config.hf_config.eos_token_id
    for candidate in (tokenizer.eos_token_id, generation_eos):
        if isinstance(candidate, int):
            eos.add(candidate)
        elif isinstance(candidate, list):
            eos.update(int(c) for c in candidate)
    return ServedModel(spec=spec, engine=engine, tokenizer=tokenizer,
                       eos_token_ids=frozenset(eos), load=load)


class InferenceEngine:
    """All models of one sidecar, their admission limits and the drain on shutdown."""

    def __init__(self, models: dict[str, ServedModel]) -> None:
        self.models = models
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def start(cls, specs: list[ModelSpec]) -> InferenceEngine:
        """Start an engine for each spec, all at once (most of a start is process spawning)."""
        check_unique(specs)
        # The legacy variable would override every model's own KV cache size.
        os.environ.pop("VLLM_CPU_KVCACHE_SPACE", None)
        # Import here, once: transformers' and vLLM's lazy imports are not thread-safe.
        import transformers  # noqa: F401
        import vllm.engine.arg_utils  # noqa: F401
        import vllm.v1.engine.async_llm  # noqa: F401
        from transformers import AutoTokenizer  # noqa: F401
        started: dict[str, ServedModel] = {}
        failures: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {}
            for spec in specs:
                log.info("starting model %s from %s (%s)", spec.name, spec.path, spec.dtype)
                futures[spec.name] = pool.submit(start_model, spec)
            for name, future in futures.items():
                try:
                    started[name] = future.result()
                except BaseException as exc:
                    failures.append(exc)
        if failures:
            for model in started.values():
                model.engine.shutdown()
            raise failures[0]
        return cls(started)

    def model(self, name: str) -> ServedModel:
        """The served model called ``name``."""
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise UnknownModel(f"model {name!r} is not served here (served: {known})")
        return served

    def total_admitted(self) -> int:
        """Requests admitted and not yet finished, over all models."""
        return sum(model.admitted for model in self.models.values())

    @contextlib.contextmanager
    def admit(self, model: ServedModel, slots: int = 1) -> Iterator[str]:
        """Admit a request taking ``slots`` sequences, or refuse it; yields its request id.

        The queue limit counts sequences admitted and unfinished (running plus
        waiting in vLLM's scheduler), so a full model answers at once with
        RESOURCE_EXHAUSTED instead of letting latency grow without bound.
        """
        if self.draining:
            raise Draining("the sidecar is shutting down; retry on another node")
        if model.admitted + slots > model.spec.max_queued_requests:
            raise Overloaded(
                f"model {model.spec.name!r} is at its queue limit "
                f"({model.admitted}/{model.spec.max_queued_requests} requests); retry later"
            )
        model.admitted += slots
        self._idle.clear()
        try:
            yield uuid.uuid4().hex
        finally:
            model.admitted -= slots
            if self.total_admitted() == 0:
                self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Stop admitting and wait up to ``timeout_s`` for admitted requests to finish.

        Returns True when everything finished in time.
        """
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def warm_up(self) -> None:
        """One short greedy request per model, so the first client does not pay for
        the engine's lazy initialisation (tens of seconds on CPU)."""
        for model in self.models.values():
            prompt = model.render_prompt("Hello")
            async for _ in model.generate(prompt, Sampling(temperature=0.0, max_tokens=2),
                                          f"warm-up-{uuid.uuid4().hex}", stream=False):
                pass

    def shutdown(self) -> None:
        """Stop every engine process (idempotent)."""
        for model in self.models.values():
            try:
                model.engine.shutdown()
            except Exception:  # a dead engine must not keep the others running
                log.exception("shutting down model %s", model.spec.name)
        self.models.clear()
        gc.collect()  # let vLLM's finalizers run now, not during interpreter teardown
