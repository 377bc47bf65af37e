"""Generation engines behind the LLM deployments: one ``Engine`` protocol, two engines.

An engine takes a prompt (chat messages, rendered with the model's own chat template,
or raw text for ``/v1/completions``), the ``ServedModel`` to answer with and a
``Sampling`` (OpenAI's knobs: max_tokens, temperature, top_p, n, seed, stop, presence
and frequency penalties, and the task grammar). ``stream`` yields ``Delta``s (text as it
is decoded, each choice's finish reason) and ends with the ``Generation``: every
choice's text, its token count and finish reason as the engine itself counted them
("length" only when the answer was cut at max_tokens), the prompt's token count, and
``info`` (engine, constrained, batch_size, queue_s, ttft_s). ``generate`` is the same
without the deltas.

``TransformersEngine`` (CPU, laptops, tests) keeps **one merged model per adapter**
rather than one base with PEFT adapters switched by ``set_adapter``. An adapter's
lineage may hold merged ancestors (GRPO trained on a merged SFT model), so two tasks'
adapters can need different underlying weights; ``adapters.load(merge=True)`` rebuilds
each chain exactly, and a merged model runs without LoRA's extra matmuls, which is
what matters on CPU. The price is one copy of the base per adapter (0.5 GB for the
135M default in fp32). The engine batches by itself (``batching``: requests that arrive
within ``batch_wait_timeout_s`` ride one ``model.generate`` call per adapter and
sampling setting), in ``--local`` and in a Ray replica alike, streaming or not. One
stopping criterion (``_Rows``) follows every row token by token: it counts the tokens,
decodes the text, ends a row at its own max_tokens or stop sequence, and drops the rows
of a caller that left (its client disconnected, or it timed out), so a generation stops
at the next token once nobody waits for it. When a request carries the task's grammar
and llguidance is installed, decoding is held to it by a logits processor
(``platform.constrained``, the library vLLM's ``guidance`` backend uses); without
llguidance the answer is unconstrained, says so, and the service resamples it.

``VLLMEngine`` (GPU) is vLLM 0.26's ``AsyncLLM`` on one shared base with one
``LoRARequest`` per task adapter (multi-LoRA: requests for different tasks share a
batch), prefix caching, and grammar-constrained decoding (llguidance reading the task's
Lark grammar by default; xgrammar reads its GBNF, measured far slower per step).
vLLM is imported only here, lazily.

Adapters loaded at runtime (``ServedModel.runtime``, see ``serve/runtime.py``) are loaded
by an engine on the first request that names them, once (one ``asyncio.Lock`` per name);
each replica keeps at most ``limits.max_runtime_adapters`` of them, least recently used
dropped first.

Why not ``ray.serve.llm``: Ray 2.60 pins vLLM 0.29 (torch 2.13), ``import
ray.serve.llm`` fails against vLLM 0.26 (it imports modules that 0.26 keeps under
``vllm.entrypoints.openai``), and its LoRA support loads adapters only from object
storage (s3://, gs://, abfss://, azure://), not from our registry folders. See
``shared/research/stack_notes.md`` §5.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol

from querytune.experiments.base import Messages
from querytune.platform import adapters, constrained, generation, models
from querytune.serve.catalog import ServedModel
from querytune.serve.config import Batching, LLMDeployment, TransformersSettings, VLLMSettings

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs

log = logging.getLogger(__name__)
Prompt = Messages | str  # chat messages (the model's chat template renders them) or raw text, sent as is
Info = dict[str, Any]  # engine, constrained, batch_size, queue_s, ttft_s
DEFAULT_RUNTIME_ADAPTERS = 4


class EngineError(RuntimeError):
    """An engine that cannot load or serve what its deployment asks for."""


@dataclass(frozen=True)
class Sampling:
    """How to sample one request's answers (OpenAI's names and meanings)."""

    max_tokens: int
    temperature: float = 0.0  # below generation.GREEDY_BELOW: greedy
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()  # strings that end an answer; the answer excludes them
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    grammar: str | None = None  # the task's grammar (Lark), held where the engine can

    @property
    def greedy(self) -> bool:
        return self.temperature < generation.GREEDY_BELOW


@dataclass
class Choice:
    text: str
    tokens: int  # generated tokens, as the engine counted them (an end-of-turn token included)
    finish_reason: str  # "length": cut at max_tokens; "stop": end of turn or a stop sequence


@dataclass
class Delta:
    """Text of one choice as it is decoded; the last delta of a choice carries its finish reason."""

    index: int
    text: str
    finish_reason: str | None = None


@dataclass
class Generation:
    choices: list[Choice]
    prompt_tokens: int
    info: Info = field(default_factory=dict)

    @property
    def completion_tokens(self) -> int:
        return sum(choice.tokens for choice in self.choices)


class Engine(Protocol):
    """Turns a prompt into ``sampling.n`` answers with one served model."""

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation: ...

    def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> AsyncIterator[Delta | Generation]: ...

    async def unload(self, name: str) -> None: ...


async def collect(stream: AsyncIterator[Delta | Generation]) -> Generation:
    """The ``Generation`` a stream ends with."""
    async for item in stream:
        if isinstance(item, Generation):
            return item
    raise EngineError("the engine's stream ended without its generation")


def render(tokenizer, prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else generation.render(tokenizer, prompt)


class _PerName:
    """One ``asyncio.Lock`` per adapter name, so concurrent first requests load it once."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}

    def __call__(self, name: str) -> asyncio.Lock:
        return self.locks.setdefault(name, asyncio.Lock())


# --------------------------------------------------------------------------- transformers
@dataclass(eq=False)
class _Job:
    """One request waiting for, or riding in, a batch."""

    prompt: Prompt
    name: str
    pair: tuple[Any, Any]  # (model, tokenizer): held here, so evicting a runtime adapter cannot pull it away
    sampling: Sampling
    events: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    enqueued: float
    deltas: bool
    cancelled: bool = False
    queue_s: float = 0.0
    first_token: float | None = None

    @property
    def key(self) -> tuple:
        """Requests of one key share a ``model.generate`` call; a seeded sample runs alone (reproducible)."""
        s = self.sampling
        if s.greedy:
            return (self.name, 0.0, 1.0, None, s.grammar, s.max_tokens if s.grammar else None)
        seeded = id(self) if s.seed is not None else None
        return (self.name, s.temperature, s.top_p, seeded, s.grammar, s.max_tokens if s.grammar else None)

    def push(self, item) -> None:
        """Hand ``item`` to the awaiting coroutine, from any thread."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:  # its event loop is closed: nobody waits any more
            self.cancelled = True


class TransformersEngine:
    """One merged model per adapter; concurrent requests are batched by (adapter, sampling)."""

    def __init__(self, loaded: dict[str, tuple[Any, Any]], settings: TransformersSettings | None = None,
                 batching: Batching | None = None, runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS):
        self.loaded = loaded  # served name -> (model, tokenizer), from the serve config
        self.runtime: OrderedDict[str, tuple[Any, Any]] = OrderedDict()  # loaded on request, least recent first
        self.settings = settings or TransformersSettings()
        self.batching = batching or Batching()
        self.runtime_limit = runtime_limit
        self._locks = _PerName()
        self._pending: list[_Job] = []
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = 0  # rows in the generate call now running (0 = idle)

    @classmethod
    def load(cls, served: list[ServedModel], settings: TransformersSettings, batching: Batching | None = None,
             runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS) -> "TransformersEngine":
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
        return cls({entry.name: _load_merged(entry, settings) for entry in served}, settings, batching,
                   runtime_limit)

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation:
        return await collect(self._stream(prompt, model, sampling, deltas=False))

    def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> AsyncIterator[Delta | Generation]:
        return self._stream(prompt, model, sampling, deltas=True)

    async def unload(self, name: str) -> None:
        self.runtime.pop(name, None)

    async def _stream(self, prompt, model, sampling, deltas: bool):
        pair = await self._model(model)
        loop = asyncio.get_running_loop()
        job = _Job(prompt, model.name, pair, sampling, asyncio.Queue(), loop, time.perf_counter(), deltas)
        self._submit(job)
        try:
            while True:
                item = await job.events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Generation):
                    return
        finally:
            job.cancelled = True  # its rows stop at the next token (or it never starts)

    async def _model(self, model: ServedModel) -> tuple[Any, Any]:
        if model.name in self.loaded:
            return self.loaded[model.name]
        if not model.runtime:
            raise EngineError(f"adapter {model.name!r} is not loaded here (loaded: {', '.join(self.loaded)})")
        async with self._locks(model.name):
            if model.name not in self.runtime:
                self.runtime[model.name] = await asyncio.to_thread(_load_merged, model, self.settings)
                while len(self.runtime) > max(self.runtime_limit, 1):
                    dropped, _ = self.runtime.popitem(last=False)
                    log.info("runtime adapter %s dropped from this replica (least recently used)", dropped)
            self.runtime.move_to_end(model.name)
            return self.runtime[model.name]

    # ----------------------------------------------------------------- batching
    def _submit(self, job: _Job) -> None:
        if self._loop is not job.loop or self._worker is None or self._worker.done():
            self._loop, self._wake, self._pending = job.loop, asyncio.Event(), []
            self._worker = job.loop.create_task(self._work())
        self._pending.append(job)
        self._wake.set()

    async def _work(self) -> None:
        """Take up to ``max_batch_size`` rows of waiting requests, generate them grouped by key, repeat."""
        limit, wait = self.batching.max_batch_size, self.batching.batch_wait_timeout_s
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            if wait and _rows(self._pending) < limit:
                await asyncio.sleep(wait)  # let concurrent requests join this batch
            taken, rows = [], 0
            while self._pending and (not taken or rows + self._pending[0].sampling.n <= limit):
                job = self._pending.pop(0)
                if not job.cancelled:
                    taken.append(job)
                    rows += job.sampling.n
            groups: dict[tuple, list[_Job]] = {}
            for job in taken:
                groups.setdefault(job.key, []).append(job)
            for group in groups.values():
                await self._run(group)

    async def _run(self, group: list[_Job]) -> None:
        began = time.perf_counter()
        for job in group:
            job.queue_s = began - job.enqueued
        rows = [(job, i) for job in group for i in range(job.sampling.n)]
        self.running = len(rows)
        try:
            results = await asyncio.to_thread(self._generate, group, rows)
        except asyncio.CancelledError:  # the worker itself is stopped (its event loop is closing)
            for job in group:
                job.cancelled = True
            raise
        except GenerationCancelled:
            return
        except Exception as err:  # noqa: BLE001 - each caller gets the failure; the worker goes on
            log.exception("generation failed for %s", group[0].name)
            for job in group:
                job.push(err)
            return
        finally:
            self.running = 0
        for job, result in zip(group, results):
            job.push(result)

    def _generate(self, group: list[_Job], rows: list[tuple[_Job, int]]) -> list[Generation]:
        """One ``model.generate`` call for every row of the group (in a worker thread)."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        model, tokenizer = group[0].pair
        first = group[0].sampling
        texts = {id(job): render(tokenizer, job.prompt) for job in group}
        processors: list[Any] = []
        if any(job.sampling.presence_penalty or job.sampling.frequency_penalty for job in group):
            processors.append(_Penalties([job.sampling for job, _ in rows]))
        held = bool(first.grammar and constrained.available())
        if held:
            processors.append(constrained.GrammarLogitsProcessor(tokenizer, first.grammar, model.config.vocab_size))
        tracker = _Rows(tokenizer, rows, _eos_ids(model, tokenizer), early_stop=not first.grammar)
        options: dict[str, Any] = {"stopping_criteria": StoppingCriteriaList([tracker])}
        if not first.greedy:
            options["top_p"] = first.top_p
            if first.seed is not None:
                torch.manual_seed(first.seed)  # alone in its group (_Job.key): the same seed gives the same answers
        generation.generate(model, tokenizer, [texts[id(job)] for job, _ in rows],
                            max_new_tokens=max(job.sampling.max_tokens for job in group), batch_size=len(rows),
                            temperature=first.temperature, logits_processor=LogitsProcessorList(processors),
                            **options)
        tracker.finish_all()
        results = []
        for job in group:
            prompt_tokens = len(tokenizer(texts[id(job)], add_special_tokens=False).input_ids)
            info = {"engine": "transformers", "constrained": held, "batch_size": len(rows),
                    "queue_s": job.queue_s, "ttft_s": (job.first_token or time.perf_counter()) - job.enqueued}
            results.append(Generation(tracker.choices(job), prompt_tokens, info))
        return results


def _rows(jobs: list[_Job]) -> int:
    return sum(job.sampling.n for job in jobs)


def _load_merged(entry: ServedModel, settings: TransformersSettings) -> tuple[Any, Any]:
    model, tokenizer, _ = adapters.load(entry.adapter, entry.storage_path, base=entry.base, dtype=settings.dtype,
                                        device=settings.device, merge=True)
    return model, tokenizer


def _eos_ids(model, tokenizer) -> set[int]:
    """The tokens that end a turn: the generation config's (one id or several), else the tokenizer's."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return {i for i in ids if i is not None} or {tokenizer.eos_token_id}


class GenerationCancelled(Exception):
    """Raised inside ``model.generate`` once no caller of the batch waits any more."""


@dataclass(eq=False)
class _Row:
    job: _Job
    index: int
    ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # characters of text already handed out as deltas
    finish_reason: str | None = None


class _Rows:
    """A stopping criterion that follows each row of a batch, token by token (transformers calls it once a
    step, after the new tokens are appended): it counts and decodes each row's tokens, hands out text as
    it becomes final (holding back what may be the start of a stop sequence), and says which rows are done
    (end of turn, their own max_tokens, a stop sequence, or a caller that left)."""

    def __init__(self, tokenizer, rows: list[tuple[_Job, int]], eos: set[int], early_stop: bool):
        self.tokenizer, self.eos, self.early_stop = tokenizer, eos, early_stop
        self.rows = [_Row(job, index) for job, index in rows]

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        now = time.perf_counter()
        for row, token in zip(self.rows, input_ids[:, -1].tolist()):
            if row.finish_reason is None and not row.job.cancelled:
                self._add(row, token, now)
        if all(row.job.cancelled for row in self.rows):
            raise GenerationCancelled
        # A row under a grammar is never stopped early: padding after its end would break its matcher.
        done = [self.early_stop and (row.finish_reason is not None or row.job.cancelled) for row in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _add(self, row: _Row, token: int, now: float) -> None:
        job = row.job
        job.first_token = job.first_token or now
        row.ids.append(token)
        if token in self.eos:
            self._update(row, "stop")
            return
        self._update(row, "length" if len(row.ids) >= job.sampling.max_tokens else None)

    def _update(self, row: _Row, finish: str | None) -> None:
        text = self.tokenizer.decode(row.ids, skip_special_tokens=True)
        stops = row.job.sampling.stop
        hits = [i for i in (text.find(stop, max(row.sent - len(stop), 0)) for stop in stops) if i >= 0]
        if hits:
            text, finish = text[:min(hits)], "stop"
        ready = len(text)
        if finish is None:
            ready -= _held_back(text, stops)
            if text[:ready].endswith("\ufffd"):  # a character whose bytes are split across tokens
                ready = len(text[:ready].rstrip("\ufffd"))
        if ready > row.sent and row.job.deltas:
            row.job.push(Delta(row.index, text[row.sent:ready]))
        row.sent, row.text = max(ready, row.sent), text
        if finish is not None:
            row.finish_reason = finish
            if row.job.deltas:
                row.job.push(Delta(row.index, "", finish))

    def finish_all(self) -> None:
        """Rows the model's own length limit ended before their max_tokens count as cut."""
        for row in self.rows:
            if row.finish_reason is None and not row.job.cancelled:
                self._update(row, "length")

    def choices(self, job: _Job) -> list[Choice]:
        return [Choice(row.text, len(row.ids), row.finish_reason or "length") for row in self.rows if row.job is job]


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Characters at the end of ``text`` that may be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _Penalties:
    """OpenAI's presence and frequency penalties on the tokens each row has generated so far (as vLLM does)."""

    def __init__(self, samplings: list[Sampling]):
        self.presence = [s.presence_penalty for s in samplings]
        self.frequency = [s.frequency_penalty for s in samplings]
        self.start: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        if self.start is None:
            self.start = input_ids.shape[1]  # the first call sees the prompt only
        generated = input_ids[:, self.start:]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        presence = torch.tensor(self.presence, dtype=scores.dtype, device=scores.device)[:, None]
        frequency = torch.tensor(self.frequency, dtype=scores.dtype, device=scores.device)[:, None]
        return scores - frequency * counts - presence * (counts > 0).to(scores.dtype)


# --------------------------------------------------------------------------- vLLM
class VLLMEngine:
    """vLLM ``AsyncLLM`` with every adapter of the deployment as a LoRA on one base."""

    def __init__(self, llm, tokenizer, loras: dict[str, Any], gbnf: dict[str, str] | None = None,
                 settings: VLLMSettings | None = None, runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS):
        self.llm = llm
        self.tokenizer = tokenizer
        self.loras = loras  # served name -> LoRARequest
        self.gbnf = gbnf or {}  # served name -> its task's GBNF, when the backend is xgrammar
        self.settings = settings or VLLMSettings()
        self.runtime: OrderedDict[str, Any] = OrderedDict()  # loaded on request (vLLM keeps its own LRU of weights)
        self.runtime_limit = runtime_limit
        self._next_id = len(loras) + 1
        self._locks = _PerName()

    @classmethod
    async def load(cls, served: list[ServedModel], settings: VLLMSettings,
                   runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS) -> "VLLMEngine":
        base_dir, lora_dirs = _lora_dirs(served, settings.max_lora_rank)
        if settings.cache_root:  # read by vllm.envs at import: set before the first vllm import
            os.environ["VLLM_CACHE_ROOT"] = str(Path(settings.cache_root).expanduser())
        # FlashInfer's top-k/top-p sampler is compiled with nvcc on a replica's first start (about two
        # minutes on an H100, measured); greedy answers never use it and PyTorch's sampler serves the rest.
        os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
        from vllm.lora.request import LoRARequest
        from vllm.v1.engine.async_llm import AsyncLLM

        llm = AsyncLLM.from_engine_args(engine_args(str(base_dir), settings, num_adapters=len(served),
                                                    runtime_adapters=runtime_limit))
        loras = {name: LoRARequest(lora_name=name, lora_int_id=i, lora_path=str(folder))
                 for i, (name, folder) in enumerate(lora_dirs.items(), start=1)}
        for lora in loras.values():  # load now, so no first request pays for it
            await llm.add_lora(lora)
        return cls(llm, models.load_tokenizer(base_dir), loras, _gbnf_grammars(served, settings), settings,
                   runtime_limit)

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation:
        return await collect(self.stream(prompt, model, sampling))

    async def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling):
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        lora = await self._lora(model)
        grammar = sampling.grammar
        if grammar and model.name in self.gbnf:  # the task grammar arrives as Lark; xgrammar reads GBNF
            grammar = self.gbnf[model.name]
        params = SamplingParams(
            n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
            stop=list(sampling.stop) or None, presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty, max_tokens=sampling.max_tokens,
            output_kind=RequestOutputKind.DELTA,  # new text and token ids of each choice as they come
            structured_outputs=StructuredOutputsParams(grammar=grammar) if grammar else None)
        # Token ids, not text: the chat template already holds every special token.
        prompt_ids = self.tokenizer(render(self.tokenizer, prompt), add_special_tokens=False).input_ids
        began, first = time.perf_counter(), None
        texts, tokens = [""] * sampling.n, [0] * sampling.n
        finish: list[str | None] = [None] * sampling.n
        async for output in self.llm.generate({"prompt_token_ids": prompt_ids}, params, uuid.uuid4().hex,
                                              lora_request=lora):
            for out in output.outputs:  # a closed stream (client gone) aborts the request inside vLLM
                if out.token_ids and first is None:
                    first = time.perf_counter()
                texts[out.index] += out.text
                tokens[out.index] += len(out.token_ids)
                if out.text:
                    yield Delta(out.index, out.text)
                if out.finish_reason and finish[out.index] is None:
                    finish[out.index] = "length" if out.finish_reason == "length" else "stop"
                    yield Delta(out.index, "", finish[out.index])
        info = {"engine": "vllm", "constrained": grammar is not None, "ttft_s": (first or time.perf_counter()) - began}
        yield Generation([Choice(texts[i], tokens[i], finish[i] or "stop") for i in range(sampling.n)],
                         len(prompt_ids), info)

    async def unload(self, name: str) -> None:
        lora = self.runtime.pop(name, None)
        if lora is not None:
            await self.llm.remove_lora(lora.lora_int_id)

    async def _lora(self, model: ServedModel):
        if model.name in self.loras:
            return self.loras[model.name]
        if not model.runtime:
            raise EngineError(f"adapter {model.name!r} is not loaded here (loaded: {', '.join(self.loras)})")
        async with self._locks(model.name):
            if model.name not in self.runtime:
                from vllm.lora.request import LoRARequest

                folder = await asyncio.to_thread(_lora_folder, model, self.settings.max_lora_rank)
                lora = LoRARequest(lora_name=model.name, lora_int_id=self._next_id, lora_path=str(folder))
                self._next_id += 1
                await self.llm.add_lora(lora)
                self.runtime[model.name] = lora
                if self.settings.structured_outputs_backend == "xgrammar":
                    self.gbnf.update(_gbnf_grammars([model], self.settings))
                while len(self.runtime) > max(self.runtime_limit, 1):
                    _, dropped = self.runtime.popitem(last=False)
                    await self.llm.remove_lora(dropped.lora_int_id)
            self.runtime.move_to_end(model.name)
            return self.runtime[model.name]

    def shutdown(self) -> None:
        self.llm.shutdown()


def _gbnf_grammars(served: list[ServedModel], settings: VLLMSettings) -> dict[str, str]:
    """Each adapter's task grammar as GBNF when the backend is xgrammar (vLLM would otherwise run
    the Lark text through its naive Lark-to-EBNF converter)."""
    if settings.structured_outputs_backend != "xgrammar":
        return {}
    from querytune.experiments import get_task

    return {entry.name: get_task(entry.task).grammar("gbnf") for entry in served}


def engine_args(model_dir: str, settings: VLLMSettings, num_adapters: int,
                runtime_adapters: int = DEFAULT_RUNTIME_ADAPTERS) -> "AsyncEngineArgs":
    """vLLM engine arguments: multi-LoRA, prefix caching, cached compilation, optional n-gram drafts."""
    from vllm.config import StructuredOutputsConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    # The compile cache follows VLLM_CACHE_ROOT (set in VLLMEngine.load), not compilation_config.cache_dir:
    # vLLM keys its default folder by a hash of model, config and code, and a fixed cache_dir would
    # drop that key and hand one model's compiled graphs to another.
    compilation: dict[str, Any] = {}
    if settings.cudagraph_capture_sizes:
        compilation["cudagraph_capture_sizes"] = settings.cudagraph_capture_sizes
    speculative = None
    if settings.ngram:
        speculative = {"method": "ngram", **settings.ngram.model_dump()}
    max_loras = settings.max_loras or num_adapters
    return AsyncEngineArgs(
        model=model_dir, dtype=settings.dtype, seed=settings.seed, max_model_len=settings.max_model_len,
        gpu_memory_utilization=settings.gpu_memory_utilization, max_num_seqs=settings.max_num_seqs,
        enable_lora=True, max_lora_rank=settings.max_lora_rank, max_loras=max_loras,
        max_cpu_loras=max(max_loras, num_adapters + runtime_adapters),  # runtime adapters wait on the CPU side
        enable_prefix_caching=True, enforce_eager=settings.enforce_eager, compilation_config=compilation,
        structured_outputs_config=StructuredOutputsConfig(backend=settings.structured_outputs_backend),
        speculative_config=speculative)


def _lora_dirs(served: list[ServedModel], max_rank: int) -> tuple[Path, dict[str, Path]]:
    """The shared base folder and each adapter's folder, refusing what vLLM cannot apply."""
    base_dir = models.resolve(served[0].base)
    folders = {}
    for entry in served:
        folders[entry.name] = _lora_folder(entry, max_rank, base_dir)
    return base_dir, folders


def _lora_folder(entry: ServedModel, max_rank: int, base_dir: Path | None = None) -> Path:
    """An adapter's folder once vLLM can apply it; ``base_dir`` is hash-checked when given (a runtime
    adapter's base hash was compared with the deployment's when it was loaded)."""
    folder = adapters.resolve(entry.adapter, entry.storage_path)
    manifest = adapters.read_manifest(folder)
    if base_dir is not None:
        adapters.check_base(manifest, base_dir)
    if entry.has_parents:
        raise EngineError(f"adapter {entry.name!r} was trained on a merged parent "
                          f"({', '.join(p.name for p in manifest.parents)}); vLLM applies a LoRA to the raw "
                          "base only: serve it with engine: transformers, or train it on the base")
    peft_config = json.loads((folder / "adapter_config.json").read_text())
    if peft_config.get("modules_to_save"):
        raise EngineError(f"adapter {entry.name!r} saves whole modules {peft_config['modules_to_save']}; "
                          "vLLM accepts LoRA weights only (retrain without modules_to_save)")
    if peft_config.get("r", 0) > max_rank:
        raise EngineError(f"adapter {entry.name!r} has rank {peft_config['r']} > vllm.max_lora_rank={max_rank}; "
                          "raise vllm.max_lora_rank")
    return folder


async def load_engine(deployment: LLMDeployment, served: list[ServedModel],
                      runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS) -> Engine:
    """The engine a deployment names, with all of its adapters loaded."""
    if deployment.engine == "vllm":
        return await VLLMEngine.load(served, deployment.vllm, runtime_limit)
    return TransformersEngine.load(served, deployment.transformers, deployment.batching, runtime_limit)
