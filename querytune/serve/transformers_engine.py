"""The transformers engine (CPU, laptops, tests): one merged model per adapter, batched by itself.

``TransformersEngine`` keeps **one merged model per adapter**
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
torch and transformers are imported inside the functions that use them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from querytune.platform import adapters, constrained, generation
from querytune.serve.catalog import ServedModel
from querytune.serve.config import Batching, TransformersSettings
from querytune.serve.engines import (
    DEFAULT_RUNTIME_ADAPTERS,
    Choice,
    Delta,
    Generation,
    LoadsOnRequest,
    Prompt,
    Sampling,
    collect,
    render,
)

log = logging.getLogger(__name__)


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


class TransformersEngine(LoadsOnRequest):
    """One merged model per adapter; concurrent requests are batched by (adapter, sampling)."""

    def __init__(self, loaded: dict[str, tuple[Any, Any]], settings: TransformersSettings | None = None,
                 batching: Batching | None = None, runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS):
        super().__init__(runtime_limit)  # self.runtime: served name -> (model, tokenizer), loaded on request
        self.loaded = loaded  # served name -> (model, tokenizer), from the serve config
        self.settings = settings or TransformersSettings()
        self.batching = batching or Batching()
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
        async def load() -> tuple[Any, Any]:
            return await asyncio.to_thread(_load_merged, model, self.settings)

        async def drop(name: str, _pair: tuple[Any, Any]) -> None:
            log.info("runtime adapter %s dropped from this replica (least recently used)", name)

        return await self._on_request(model, self.loaded, load, drop)

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
                    "queue_s": job.queue_s, "ttft_s": (job.first_token or time.perf_counter()) - job.enqueued,
                    "engine_s": time.perf_counter() - job.enqueued}
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

