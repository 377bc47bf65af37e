"""Task logic behind the routes: example -> task prompt -> engine -> task parse.

A route builds the example its task expects (sourcegraph: ``request``,
``candidate_repos``, ``date``; qmd: ``query``), asks the task for chat messages,
generates with the adapter the route names, and parses the answer with the task's
own parser: *valid* means exactly what it means in evaluation. An engine that cannot
enforce the grammar (transformers without llguidance) gets up to ``retries`` resamples at a higher
temperature when the answer does not parse; the answer says how many it took.

Before anything is generated, the whole prompt is measured in the model's own tokens
(``limits.max_prompt_tokens``), and user text holding one of the model's control tokens
(``<|im_end|>``, ``<|im_start|>``...) is refused: the tokenizer would read it as a real turn
boundary, and a user could write the system turn.

Every method returns an answer or an ``ApiError`` value; the routes stay thin.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from querytune.experiments import ParseError, get_task
from querytune.experiments.base import Example, Parsed, Task
from querytune.platform import generation, models
from querytune.serve.catalog import ServedModel
from querytune.serve.config import Route, ServeConfig
from querytune.serve.engines import Engine, Info, Messages
from querytune.serve.metrics import Metrics
from querytune.serve.schemas import (ApiError, ChatAnswer, ChatChoice, ChatChoiceMessage, ChatRequest, ExpandAnswer,
                                     ExpandRequest, ModelCard, ModelList, QueryAnswer, QueryRequest, Usage)

log = logging.getLogger(__name__)
DEFAULT_CHAT_MAX_TOKENS = 128
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
    info: Info  # the engine's account of the last generation
    began: float

    def fields(self) -> dict[str, Any]:
        return {"valid": self.parsed is not None, "latency_ms": round((time.perf_counter() - self.began) * 1e3, 3),
                "model": self.model, "retries": self.retries, "constrained": bool(self.info.get("constrained")),
                "truncated": self.info.get("finish_reason") == "length", "error": self.error}


class Service:
    """The served models (catalog), their tasks, and the engines of their deployments."""

    def __init__(self, cfg: ServeConfig, catalog: Mapping[str, ServedModel], engines: dict[str, Engine]):
        self.cfg = cfg
        self.catalog = dict(catalog)
        self.engines = engines  # deployment name -> engine; filled at start-up
        self.tasks: dict[str, Task] = {name: get_task(entry.task) for name, entry in self.catalog.items()}
        self.metrics = Metrics()
        self.started = int(time.time())
        self.warm: dict[str, float] = {}  # deployment -> seconds its warm-up request took
        self._tokenizers: dict[str, Any] = {}  # base model -> tokenizer, loaded on first use

    # ----------------------------------------------------------------- routes
    async def query(self, body: QueryRequest) -> QueryAnswer | ApiError:
        began = time.perf_counter()
        problem = self._check_query(body.query) or self._check_repos(body.candidate_repos)
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
        problem = self._check_query(body.query)
        if problem:
            return problem
        attempt = await self._answer("qmd", {"query": body.query}, {"query": body.query}, began)
        if isinstance(attempt, ApiError):
            return attempt
        value = attempt.parsed.value if attempt.parsed and isinstance(attempt.parsed.value, dict) else {}
        return ExpandAnswer(lex=list(value.get("lex") or []), vec=list(value.get("vec") or []),
                            hyde=value.get("hyde"), raw=attempt.text, **attempt.fields())

    async def chat(self, body: ChatRequest) -> ChatAnswer | ApiError:
        entry = self.catalog.get(body.model)
        if entry is None:
            return ApiError(404, "model_not_found", f"model {body.model!r} is not served here; GET /v1/models "
                            f"lists {', '.join(sorted(self.catalog))}", "model")
        problem = self._check_chat(body)
        if problem:
            return problem
        max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_CHAT_MAX_TOKENS
        messages = [{"role": m.role, "content": m.content} for m in body.messages]
        user_text = {f"messages.{i}.content": m.content for i, m in enumerate(body.messages)}
        problem = self._check_prompt(entry, messages, user_text, "messages")
        if problem:
            return problem
        out = await self._generate(entry, messages, max_tokens, None, body.temperature)
        if isinstance(out, ApiError):
            return out
        text, info = out
        prompt, completion = info.get("prompt_tokens", 0), info.get("completion_tokens", 0)
        return ChatAnswer(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=entry.name,
                          choices=[ChatChoice(message=ChatChoiceMessage(content=text),
                                              finish_reason=info.get("finish_reason", "stop"))],
                          usage=Usage(prompt_tokens=prompt, completion_tokens=completion,
                                      total_tokens=prompt + completion))

    def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=name, created=self.started, task=e.task, base=e.base, recipe=e.recipe)
                               for name, e in sorted(self.catalog.items())])

    def ready(self) -> bool:
        """Every deployment's engine has answered a warm-up request."""
        return all(d.name in self.warm for d in self.cfg.deployments)

    async def warm_up(self, retry: bool = False) -> None:
        """One token from each deployment, so the first client does not pay for lazy set-up.

        ``retry``: keep asking a deployment that fails (an ingress waits for LLM replicas that
        are still starting); without it the first failure is raised (``--local``: start-up fails).
        """
        for entry in self.catalog.values():
            self._tokenizer(entry.base)  # the prompt check's tokenizer, so no request loads it
        for deployment in self.cfg.deployments:
            entry = next(e for e in self.catalog.values() if e.deployment == deployment.name)
            while deployment.name not in self.warm:
                began = time.perf_counter()
                try:
                    await self.engines[deployment.name].generate(WARM_UP, entry.name, 1)
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
    async def _answer(self, route_name: str, example: Example, user_text: dict[str, str],
                      began: float) -> Attempt | ApiError:
        """Generate for a task route; resample an unparsable answer while retries last."""
        route: Route | None = self.cfg.routes.get(route_name)
        if route is None:
            return ApiError(404, "route_not_served", f"this server has no {route_name} route (set "
                            f"routes.{route_name}.model in the serve config)")
        entry, task = self.catalog[route.model], self.tasks[route.model]
        messages = task.messages(example)
        problem = self._check_prompt(entry, messages, user_text, "query")
        if problem:
            return problem
        grammar = task.grammar() if entry.constrained else None
        temperature, retries = 0.0, 0
        while True:
            out = await self._generate(entry, messages, route.max_tokens, grammar, temperature)
            if isinstance(out, ApiError):
                return out
            text, info = out
            parsed, error = parse(task, text)
            if parsed is not None or info.get("constrained") or retries == route.retries:
                break
            temperature, retries = route.retry_temperature, retries + 1
        self.metrics.answer(route_name, parsed is not None, retries)
        return Attempt(entry.name, text, parsed, error, retries, info, began)

    async def _generate(self, entry: ServedModel, messages: Messages, max_tokens: int, grammar: str | None,
                        temperature: float) -> tuple[str, Info] | ApiError:
        engine = self.engines.get(entry.deployment)
        if engine is None:
            return ApiError(503, "engine_unavailable", f"deployment {entry.deployment!r} is not loaded (yet)")
        timeout = self.cfg.limits.timeout_s
        try:
            return await asyncio.wait_for(engine.generate(messages, entry.name, max_tokens, grammar, temperature),
                                          timeout)
        except asyncio.TimeoutError:
            return ApiError(504, "timeout", f"no answer from {entry.deployment!r} within {timeout:g} s "
                            "(limits.timeout_s); the server is overloaded or the answer budget too large")
        except Exception:  # a failed replica is the server's problem: a 503, no hang, details only in the log
            log.exception("generation failed on %s", entry.deployment)
            return ApiError(503, "engine_error", f"deployment {entry.deployment!r} failed to answer; retry, "
                            "or see the server log")

    # ----------------------------------------------------------------- limits
    def _check_query(self, query: str) -> ApiError | None:
        limit = self.cfg.limits.max_query_chars
        if len(query) > limit:
            return ApiError(422, "too_long", f"query is {len(query)} characters; the limit is {limit} "
                            "(limits.max_query_chars)", "query")
        return None

    def _check_repos(self, repos: list[str]) -> ApiError | None:
        limits = self.cfg.limits
        if len(repos) > limits.max_candidate_repos:
            return ApiError(422, "too_many", f"candidate_repos has {len(repos)} entries; the limit is "
                            f"{limits.max_candidate_repos} (limits.max_candidate_repos)", "candidate_repos")
        for i, repo in enumerate(repos):
            if not repo.strip() or len(repo) > limits.max_repo_chars:
                return ApiError(422, "invalid_request", f"candidate_repos.{i}: a repository name of 1 to "
                                f"{limits.max_repo_chars} characters (got {repo!r:.80})", f"candidate_repos.{i}")
        return None

    def _check_chat(self, body: ChatRequest) -> ApiError | None:
        limits = self.cfg.limits
        if body.stream:
            return ApiError(400, "unsupported", "stream=true is not supported; send stream=false", "stream")
        for name in ("max_tokens", "max_completion_tokens"):
            asked = getattr(body, name)
            if asked is not None and asked > limits.max_tokens:
                return ApiError(422, "too_large", f"{name}={asked}; the limit is {limits.max_tokens} "
                                "(limits.max_tokens)", name)
        if len(body.messages) > limits.max_messages:
            return ApiError(422, "too_many", f"messages has {len(body.messages)} entries; the limit is "
                            f"{limits.max_messages} (limits.max_messages)", "messages")
        for i, message in enumerate(body.messages):
            if len(message.content) > limits.max_message_chars:
                return ApiError(422, "too_long", f"messages.{i}.content is {len(message.content)} characters; the "
                                f"limit is {limits.max_message_chars} (limits.max_message_chars)",
                                f"messages.{i}.content")
        return None


    def _check_prompt(self, entry: ServedModel, messages: Messages, user_text: dict[str, str],
                      prompt_field: str) -> ApiError | None:
        """Control tokens in user text, then the prompt's length in the model's tokens."""
        tokenizer = self._tokenizer(entry.base)
        for name, text in user_text.items():
            token = next((t for t in control_tokens(tokenizer) if t in text), None)
            if token:
                return ApiError(422, "control_token", f"{name} contains {token!r}, a control token of the model's "
                                "chat format; remove it", name)
        limit = self.cfg.limits.max_prompt_tokens
        count = len(tokenizer(generation.render(tokenizer, messages), add_special_tokens=False).input_ids)
        if count > limit:
            return ApiError(422, "prompt_too_long", f"the prompt is {count} tokens; the limit is {limit} "
                            "(limits.max_prompt_tokens): shorten it", prompt_field)
        return None

    def _tokenizer(self, base: str):
        if base not in self._tokenizers:
            hub_id = base.count("/") == 1 and not Path(base).expanduser().exists()
            # a Hub model's tokenizer files only: models.resolve would fetch the weights to the ingress too
            self._tokenizers[base] = models.load_tokenizer(base if hub_id else models.resolve(base))
        return self._tokenizers[base]


def control_tokens(tokenizer) -> list[str]:
    """Strings the tokenizer turns into one added token wherever they appear (turn markers and the like)."""
    return [token.content for token in tokenizer.added_tokens_decoder.values()]


def parse(task: Task, text: str) -> tuple[Parsed | None, str | None]:
    """The task's own verdict on an answer: (parsed, None) or (None, why not)."""
    try:
        return task.parse(text), None
    except ParseError as err:
        return None, str(err)
