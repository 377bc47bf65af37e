"""Task logic behind the routes: example -> task prompt -> engine -> task parse; and the OpenAI routes.

A task route builds the example its task expects (sourcegraph: ``request``,
``candidate_repos``, ``date``; qmd: ``query``), asks the task for chat messages,
generates with the adapter the route names, and parses the answer with the task's
own parser: *valid* means exactly what it means in evaluation. An answer that does not parse
gets up to ``retries`` resamples at a higher temperature, under the grammar too (it leaves whole-query
rules such as ``after:`` needing ``type:commit`` to the validator); the answer says how many it took.
One cut at ``max_tokens`` is not resampled: it needs a bigger budget, not another sample. A route
with ``best_of`` > 1 (or a request's ``best_of``) samples that many answers in one
generation and returns the one the task's own gold-free ``choose`` picks, as
``querytune eval --best-of`` does.

``/v1/chat/completions`` and ``/v1/completions`` pass OpenAI's sampling fields to the
engine (``engines.Sampling``); ``usage`` and ``finish_reason`` are the engine's own counts.
With ``stream`` the answer is a ``Stream`` of OpenAI chunks: the first engine event is
awaited before the stream starts, so a failure to start is still an error status, not a 200.

Before anything is generated, a request is held to the config's ``limits`` and its prompt to the
model's own tokens (``request_checks``). Every method returns an answer or an ``ApiError`` value;
the routes stay thin. ``timing`` records where a request's time goes (prompt, call, engine, parse).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

from querytune.experiments import ParseError, get_task
from querytune.experiments.base import Example, Parsed, Task
from querytune.platform import models
from querytune.serve import timing
from querytune.serve.catalog import ServedModel
from querytune.serve.config import Route, ServeConfig
from querytune.serve.engines import Engine, EngineError, Generation, Prompt, Sampling
from querytune.serve.metrics import Metrics
from querytune.serve.openai_shapes import ChatChunks, CompletionChunks, sampling_of, usage, usage_asked
from querytune.serve.request_checks import (check_best_of, check_chat, check_completion, check_openai, check_prompt,
                                            check_query, check_repos)
from querytune.serve.runtime import RuntimeAdapters
from querytune.serve.schemas import (AdapterAnswer, ApiError, ChatAnswer, ChatChoice, ChatChoiceMessage, ChatRequest,
                                     CompletionAnswer, CompletionChoice, CompletionRequest, ExpandAnswer,
                                     ExpandRequest, LoadAdapterRequest, ModelCard, ModelList, QueryAnswer,
                                     QueryRequest, Stream, UnloadAdapterRequest)

log = logging.getLogger(__name__)
DEFAULT_CHAT_MAX_TOKENS = 128
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
LOAD_TIMEOUT_S = 600  # a runtime adapter's first generation loads its weights (a merged model on CPU)
WARM_UP = [{"role": "user", "content": "warm-up"}]  # one token of this per deployment before /healthz says ready
WARM_UP_RETRY_S = 1.0


@dataclass
class Attempt:
    """The answer a route settled on, with how it got there."""

    model: str
    text: str
    parsed: Parsed | None
    error: str | None
    retries: int
    constrained: bool
    truncated: bool  # the engine cut it at the route's max_tokens
    began: float

    def fields(self) -> dict[str, Any]:
        return {"valid": self.parsed is not None, "latency_ms": round((time.perf_counter() - self.began) * 1e3, 3),
                "model": self.model, "retries": self.retries, "constrained": self.constrained,
                "truncated": self.truncated, "error": self.error}


class Service:
    """The served models (catalog and runtime adapters), their tasks, and the engines of their deployments."""

    def __init__(self, cfg: ServeConfig, catalog: Mapping[str, ServedModel], engines: dict[str, Engine],
                 runtime: RuntimeAdapters | Any = None, metrics: Metrics | None = None):
        self.cfg = cfg
        self.catalog = dict(catalog)
        self.engines = engines  # deployment name -> engine; filled at start-up
        self.runtime = runtime if runtime is not None else RuntimeAdapters(cfg, self.catalog)
        self.tasks: dict[str, Task] = {name: get_task(entry.task) for name, entry in self.catalog.items()}
        self.metrics = metrics or Metrics()
        self.started = int(time.time())
        self.warm: dict[str, float] = {}  # deployment -> seconds its warm-up request took
        self._tokenizers: dict[str, Any] = {}  # base model -> tokenizer, loaded on first use
        self._locks: dict[str, asyncio.Lock] = {}  # adapter name -> its load/unload lock

    # ----------------------------------------------------------------- task routes
    async def query(self, body: QueryRequest) -> QueryAnswer | ApiError:
        began = time.perf_counter()
        problem = check_query(self.cfg.limits, body.query) or check_repos(self.cfg.limits, body.candidate_repos)
        if problem:
            return problem
        example = {"request": body.query, "candidate_repos": body.candidate_repos,
                   "date": body.date or dt.date.today().isoformat()}
        user_text = {"query": body.query, **{f"candidate_repos.{i}": r for i, r in enumerate(body.candidate_repos)}}
        attempt = await self._answer("sourcegraph", example, user_text, began)
        if isinstance(attempt, ApiError):
            return attempt
        return QueryAnswer(query=attempt.text, **attempt.fields())

    async def expand(self, body: ExpandRequest) -> ExpandAnswer | ApiError:
        began = time.perf_counter()
        problem = check_query(self.cfg.limits, body.query) or check_best_of(self.cfg.limits, body.best_of)
        if problem:
            return problem
        attempt = await self._answer("qmd", {"query": body.query}, {"query": body.query}, began, body.best_of)
        if isinstance(attempt, ApiError):
            return attempt
        value = attempt.parsed.value if attempt.parsed and isinstance(attempt.parsed.value, dict) else {}
        return ExpandAnswer(lex=list(value.get("lex") or []), vec=list(value.get("vec") or []),
                            hyde=value.get("hyde"), raw=attempt.text,
                            best_of=body.best_of or self.cfg.routes["qmd"].best_of, **attempt.fields())

    # ----------------------------------------------------------------- OpenAI routes
    async def chat(self, body: ChatRequest) -> ChatAnswer | Stream | ApiError:
        entry = await self._entry(body.model)
        if isinstance(entry, ApiError):
            return entry
        problem = check_openai(self.cfg.limits, body) or check_chat(self.cfg.limits, body)
        if problem:
            return problem
        # developer is OpenAI's newer name for the system turn; the chat templates know only system
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.content}
                    for m in body.messages]
        user_text = {f"messages.{i}.content": m.content for i, m in enumerate(body.messages)}
        problem = check_prompt(self.cfg.limits, self._tokenizer(entry.base), messages, user_text, "messages")
        if problem:
            return problem
        sampling = sampling_of(body, body.max_completion_tokens or body.max_tokens or DEFAULT_CHAT_MAX_TOKENS)
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            shape = ChatChunks(ident, created, entry.name, sampling.n)
            return await self._stream(entry, messages, sampling, shape, usage_asked(body))
        out = await self._generate(entry, messages, sampling)
        if isinstance(out, ApiError):
            return out
        return ChatAnswer(id=ident, created=created, model=entry.name, usage=usage(out),
                          choices=[ChatChoice(index=i, message=ChatChoiceMessage(content=c.text),
                                              finish_reason=c.finish_reason) for i, c in enumerate(out.choices)])

    async def completion(self, body: CompletionRequest) -> CompletionAnswer | Stream | ApiError:
        entry = await self._entry(body.model)
        if isinstance(entry, ApiError):
            return entry
        problem = check_openai(self.cfg.limits, body) or check_completion(self.cfg.limits, body)
        problem = problem or check_prompt(self.cfg.limits, self._tokenizer(entry.base), body.prompt, {}, "prompt")
        if problem:
            return problem
        sampling = sampling_of(body, body.max_tokens or DEFAULT_COMPLETION_MAX_TOKENS)
        ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            shape = CompletionChunks(ident, created, entry.name, sampling.n)
            return await self._stream(entry, body.prompt, sampling, shape, usage_asked(body))
        out = await self._generate(entry, body.prompt, sampling)
        if isinstance(out, ApiError):
            return out
        return CompletionAnswer(id=ident, created=created, model=entry.name, usage=usage(out),
                                choices=[CompletionChoice(index=i, text=c.text, finish_reason=c.finish_reason)
                                         for i, c in enumerate(out.choices)])

    async def models(self) -> ModelList:
        entries = sorted([*self.catalog.values(), *await self.runtime.entries()], key=lambda e: e.name)
        return ModelList(data=[self._card(e) for e in entries])

    async def model(self, name: str) -> ModelCard | ApiError:
        entry = await self._entry(name)
        return entry if isinstance(entry, ApiError) else self._card(entry)

    # ----------------------------------------------------------------- runtime adapters
    async def load_adapter(self, body: LoadAdapterRequest) -> AdapterAnswer | ApiError:
        """Accept a registry adapter (``runtime``), then generate one token with it: that loads its weights
        into an engine and proves they serve. A failure takes it back out."""
        name = body.lora_name
        async with self._lock(name):
            entry = await self.runtime.load(name, body.deployment)
            if isinstance(entry, ApiError):
                return entry
            engine = self.engines.get(entry.deployment)
            try:
                if engine is None:
                    raise EngineError(f"deployment {entry.deployment!r} is not loaded (yet)")
                await asyncio.wait_for(engine.generate(WARM_UP, entry, Sampling(max_tokens=1)), LOAD_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001 - the adapter goes back out, and the client learns why
                await self.runtime.unload(name)
                cause = getattr(err, "cause", err)  # a Ray task error wraps the engine's own
                log.warning("runtime adapter %s failed to load on %s", name, entry.deployment, exc_info=True)
                if isinstance(cause, EngineError):
                    return ApiError(400, "adapter_load_failed", f"deployment {entry.deployment!r} cannot serve "
                                    f"adapter {name!r}: {cause}", "lora_name")
                return ApiError(503, "engine_error", f"deployment {entry.deployment!r} failed to load adapter "
                                f"{name!r}; see the server log", "lora_name")
            log.info("runtime adapter %s loaded on deployment %s (task %s)", name, entry.deployment, entry.task)
            return AdapterAnswer(status="loaded", model=self._card(entry))

    async def unload_adapter(self, body: UnloadAdapterRequest) -> AdapterAnswer | ApiError:
        name = body.lora_name
        async with self._lock(name):
            entry = await self.runtime.unload(name)
            if isinstance(entry, ApiError):
                return entry
            engine = self.engines.get(entry.deployment)
            try:  # on Ray every live replica drops it (Serve's broadcast)
                if engine is not None:
                    await engine.unload(name)
            except Exception:  # noqa: BLE001 - it is already out of the catalog: no request reaches it
                log.warning("unloading %s from %s failed", name, entry.deployment, exc_info=True)
            log.info("runtime adapter %s unloaded", name)
            return AdapterAnswer(status="unloaded", model=self._card(entry))

    # ----------------------------------------------------------------- readiness
    def ready(self) -> bool:
        """Every deployment's engine has answered a warm-up request."""
        return all(d.name in self.warm for d in self.cfg.deployments)

    async def _warm_up(self, deployment: str) -> None:
        """One token from each adapter, then one under each grammar its adapters are served with: the engine
        compiles a grammar once, and that compile is not the first client's to pay."""
        engine, entries = self.engines[deployment], [e for e in self.catalog.values() if e.deployment == deployment]
        constrained = {self.tasks[e.name].grammar(): e for e in entries if e.constrained}
        for entry in entries:
            await engine.generate(WARM_UP, entry, Sampling(max_tokens=1))
        for grammar, entry in constrained.items():
            await engine.generate(WARM_UP, entry, Sampling(max_tokens=1, grammar=grammar))

    async def warm_up(self, retry: bool = False) -> None:
        """Warm each deployment, so the first client does not pay for lazy set-up. ``retry``: keep asking
        a deployment that fails (an ingress waits for LLM replicas that are still starting); without it
        the first failure is raised (``--local``: start-up fails)."""
        for entry in self.catalog.values():
            self._tokenizer(entry.base)  # the prompt check's tokenizer, so no request loads it
        for deployment in self.cfg.deployments:
            while deployment.name not in self.warm:
                began = time.perf_counter()
                try:
                    await self._warm_up(deployment.name)
                except Exception:
                    if not retry:
                        raise
                    log.warning("warm-up of %s failed; retrying in %g s", deployment.name, WARM_UP_RETRY_S,
                                exc_info=True)
                    await asyncio.sleep(WARM_UP_RETRY_S)
                    continue
                self.warm[deployment.name] = time.perf_counter() - began
                log.info("warm-up: deployment %s answered in %.2f s", deployment.name, self.warm[deployment.name])

    # ----------------------------------------------------------------- generation
    async def _answer(self, route_name: str, example: Example, user_text: dict[str, str], began: float,
                      best_of: int | None = None) -> Attempt | ApiError:
        """Generate for a task route (best of n when asked); resample an unparsable answer while retries last."""
        route: Route | None = self.cfg.routes.get(route_name)
        if route is None:
            return ApiError(404, "route_not_served", f"this server has no {route_name} route (set "
                            f"routes.{route_name}.model in the serve config)")
        entry, task = self.catalog[route.model], self.tasks[route.model]
        n = best_of or route.best_of
        with timing.timed("prompt"):
            messages = task.messages(example)
            problem = check_prompt(self.cfg.limits, self._tokenizer(entry.base), messages, user_text, "query")
        if problem:
            return problem
        grammar = task.grammar() if entry.constrained else None
        temperature, retries = (route.best_of_temperature if n > 1 else 0.0), 0
        while True:
            out = await self._generate(entry, messages, Sampling(max_tokens=route.max_tokens, temperature=temperature,
                                                                 n=n, grammar=grammar))
            if isinstance(out, ApiError):
                return out
            texts = [choice.text.strip() for choice in out.choices]
            pick = task.choose(example, texts) if n > 1 else 0
            parsed, error = parse(task, texts[pick])
            constrained = bool(out.info.get("constrained"))
            cut = out.choices[pick].finish_reason == "length"  # a bigger budget would help, not another sample
            if parsed is not None or cut or retries == route.retries:
                break
            temperature, retries = max(route.retry_temperature, temperature), retries + 1
        self.metrics.answer(route_name, parsed is not None, retries)
        return Attempt(entry.name, texts[pick], parsed, error, retries, constrained, cut, began)

    async def _generate(self, entry: ServedModel, prompt: Prompt, sampling: Sampling) -> Generation | ApiError:
        engine = self.engines.get(entry.deployment)
        if engine is None:
            return ApiError(503, "engine_unavailable", f"deployment {entry.deployment!r} is not loaded (yet)")
        timeout = self.cfg.limits.timeout_s
        try:
            with timing.timed("call"):
                out = await asyncio.wait_for(engine.generate(prompt, entry, sampling), timeout)
        except asyncio.TimeoutError:
            return _timed_out(entry, timeout)
        except Exception:  # a failed replica is the server's problem: a 503, no hang, details only in the log
            log.exception("generation failed on %s", entry.deployment)
            return _failed(entry)
        self._observe(entry, out)
        return out

    async def _stream(self, entry: ServedModel, prompt: Prompt, sampling: Sampling, shape: "ChatChunks",
                      include_usage: bool) -> Stream | ApiError:
        """Start the engine's stream and wait for its first event (errors so far are statuses), then hand
        back the chunks; a failure later is a last ``{"error": ...}`` event, as vLLM sends it."""
        engine = self.engines.get(entry.deployment)
        if engine is None:
            return ApiError(503, "engine_unavailable", f"deployment {entry.deployment!r} is not loaded (yet)")
        timeout = self.cfg.limits.timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        items = engine.stream(prompt, entry, sampling).__aiter__()
        try:
            first = await asyncio.wait_for(items.__anext__(), timeout)
        except asyncio.TimeoutError:
            await items.aclose()
            return _timed_out(entry, timeout)
        except Exception:  # noqa: BLE001 - as in _generate
            log.exception("generation failed on %s", entry.deployment)
            await items.aclose()
            return _failed(entry)

        async def chunks() -> AsyncIterator[dict]:
            item = first
            try:
                start = shape.start()
                if start:
                    yield start
                while True:
                    if isinstance(item, Generation):
                        self._observe(entry, item)
                        if include_usage:
                            yield shape.usage(usage(item))
                        return
                    yield shape.delta(item)
                    try:
                        item = await asyncio.wait_for(items.__anext__(), max(deadline - loop.time(), 0))
                    except asyncio.TimeoutError:
                        yield _timed_out(entry, timeout).body()
                        return
                    except StopAsyncIteration:
                        yield _failed(entry).body()
                        return
                    except Exception:  # noqa: BLE001 - as in _generate, but the status line is sent already
                        log.exception("generation failed on %s", entry.deployment)
                        yield _failed(entry).body()
                        return
            finally:
                await items.aclose()  # a client that left stops the generation here

        return Stream(chunks())

    def _observe(self, entry: ServedModel, out: Generation) -> None:
        self.metrics.generation(entry.name, entry.deployment, out.prompt_tokens, out.completion_tokens, out.info)
        timing.engine(out.info)

    async def _entry(self, name: str) -> ServedModel | ApiError:
        entry = self.catalog.get(name) or await self.runtime.get(name)
        if entry is None:
            served = sorted([*self.catalog, *(e.name for e in await self.runtime.entries())])
            return ApiError(404, "model_not_found", f"model {name!r} is not served here; GET /v1/models lists "
                            f"{', '.join(served)}", "model")
        return entry

    def _card(self, entry: ServedModel) -> ModelCard:
        return ModelCard(id=entry.name, created=self.started, task=entry.task, base=entry.base, recipe=entry.recipe,
                         deployment=entry.deployment, runtime=entry.runtime)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _tokenizer(self, base: str):
        if base not in self._tokenizers:
            hub_id = base.count("/") == 1 and not Path(base).expanduser().exists()
            # a Hub model's tokenizer files only: models.resolve would fetch the weights to the ingress too
            self._tokenizers[base] = models.load_tokenizer(base if hub_id else models.resolve(base))
        return self._tokenizers[base]


def _timed_out(entry: ServedModel, timeout: float) -> ApiError:
    return ApiError(504, "timeout", f"no answer from {entry.deployment!r} within {timeout:g} s "
                    "(limits.timeout_s); the server is overloaded or the answer budget too large")


def _failed(entry: ServedModel) -> ApiError:
    return ApiError(503, "engine_error", f"deployment {entry.deployment!r} failed to answer; retry, or see the log")


def parse(task: Task, text: str) -> tuple[Parsed | None, str | None]:
    """The task's own verdict on an answer: (parsed, None) or (None, why not)."""
    try:
        with timing.timed("parse"):
            return task.parse(text), None
    except ParseError as err:
        return None, str(err)
