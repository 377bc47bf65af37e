"""The HTTP surface: request/response schemas, routes, errors, metrics.

Routes are thin: they hand a validated body to ``service.Service`` and turn what comes
back, an answer or an ``ApiError`` value, into JSON. Every error has one shape,
``{"error": {"type", "message", "field"}}``: a bad body is a 4xx naming the field, an
unknown model a 404 naming it, a body over the size limit a 413; nothing a client
sends produces a 500.

``create_app(service)`` builds a plain FastAPI app: it runs under uvicorn without Ray
(``app.local_app``) and inside the Ray Serve ingress replica (``app.Ingress``).
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fastapi import FastAPI

    from querytune.serve.service import Service

log = logging.getLogger(__name__)
PLAYGROUND = Path(__file__).with_name("playground.html")
OPEN_PATHS = frozenset({"/healthz", "/"})  # liveness, and the static page (it holds no data)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


# --------------------------------------------------------------------------- errors
@dataclass
class ApiError:
    """An error returned as a value by the service; ``field`` names the offending input."""

    status: int
    type: str
    message: str
    field: str | None = None

    def body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "field": self.field}}


class ErrorDetail(BaseModel):
    type: str = Field(description="stable error code, e.g. invalid_request, model_not_found")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault, dotted (candidate_repos.2)")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 503, 504)}


# --------------------------------------------------------------------------- requests
class Body(BaseModel):
    """A request body: unknown fields are errors, so a typo is reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


def _unicode(value: str) -> str:
    """JSON may carry lone UTF-16 surrogates ("\\ud800"); no tokenizer encodes them, so refuse them here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"character {err.start} is a lone surrogate ({value[err.start]!r}), not text: "
                         "send valid Unicode") from None
    return value


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


def _calendar_date(value: str) -> str:
    try:
        if DATE_RE.fullmatch(value):
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a calendar date in YYYY-MM-DD form (e.g. 2026-11-25)")


Unicode = Annotated[str, AfterValidator(_unicode)]
Text = Annotated[str, AfterValidator(_unicode), AfterValidator(_nonblank)]
Date = Annotated[str, AfterValidator(_calendar_date)]


class QueryRequest(Body):
    """POST /sourcegraph/query (and /query, the original endpoint's body)."""

    query: Text = Field(..., description="what the developer typed",
                        examples=["find Python files with async functions"])
    candidate_repos: list[Unicode] = Field(default_factory=list, description="repositories the answer may filter on")
    date: Date | None = Field(None, description="today for relative dates, YYYY-MM-DD; default = the server's date")


class ExpandRequest(Body):
    """POST /qmd/expand."""

    query: Text = Field(..., description="a short search query", examples=["auth config"])


class ChatMessage(Body):
    role: Literal["system", "user", "assistant"]
    content: Unicode
    name: str | None = None


class ChatRequest(Body):
    """OpenAI ``/v1/chat/completions`` subset; unsupported options are refused, not ignored."""

    model: str = Field(..., description="served model (adapter) name, see GET /v1/models")
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1, description="answer budget (default 128)")
    max_completion_tokens: int | None = Field(None, ge=1, description="newer name of max_tokens")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy (this server's default)")
    top_p: float | None = Field(None, gt=0, le=1, description="accepted for compatibility; ignored")
    n: Literal[1] = Field(1, description="one choice per request")
    stream: bool = Field(False, description="streaming is not supported; must be false")
    seed: int | None = Field(None, description="accepted for compatibility; ignored")
    user: str | None = Field(None, description="accepted for compatibility; ignored")


# --------------------------------------------------------------------------- answers
class TaskAnswer(BaseModel):
    valid: bool = Field(description="the answer parses in the task's language")
    latency_ms: float = Field(description="server time for this request")
    model: str = Field(description="the adapter that answered")
    retries: int = Field(0, description="resamples after answers that did not parse")
    constrained: bool = Field(False, description="decoded under the task's grammar")
    truncated: bool = Field(False, description="the answer stopped at the route's max_tokens")
    error: str | None = Field(None, description="why the answer does not parse, when valid is false")


class QueryAnswer(TaskAnswer):
    query: str = Field(description="the Sourcegraph query")


class ExpandAnswer(TaskAnswer):
    lex: list[str] = Field(default_factory=list, description="BM25 keyword queries")
    vec: list[str] = Field(default_factory=list, description="natural-language queries for vector search")
    hyde: str | None = Field(None, description="a hypothetical passage answering the query")
    raw: str = Field(description="the model's text as generated")


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatChoiceMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatAnswer(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "querytune"
    task: str = Field(description="the task whose prompts and parser go with this adapter")
    base: str = Field(description="base model the adapter applies to")
    recipe: str = Field(description="sft or grpo")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --------------------------------------------------------------------------- metrics
class Metrics:
    """Prometheus metrics of one app (its own registry: several apps may share a process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("querytune_requests", "HTTP requests by route and status code",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("querytune_request_latency_seconds", "HTTP request latency by route",
                                 ["route"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.answers = Counter("querytune_answers", "task answers by route and validity",
                               ["route", "valid"], registry=self.registry)
        self.retries = Counter("querytune_generation_retries", "resamples of answers that did not parse",
                               ["route"], registry=self.registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def answer(self, route: str, valid: bool, retries: int) -> None:
        self.answers.labels(route, str(valid).lower()).inc()
        self.retries.labels(route).inc(retries)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# --------------------------------------------------------------------------- app
def create_app(service: "Service", lifespan=None) -> "FastAPI":
    """The FastAPI app over ``service``; ``lifespan`` may load engines before serving."""
    from fastapi import FastAPI

    app = FastAPI(title="querytune", summary="Search queries from fine-tuned small models.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)  # no docs pages: they load CDN assets
    _add_error_handlers(app)
    _add_routes(app, service)
    _add_guard(app, service)
    return app


def error_response(err: ApiError):
    from fastapi.responses import JSONResponse

    return JSONResponse(err.body(), status_code=err.status)


def respond(result):
    """An answer as itself, an ``ApiError`` as its JSON error response."""
    return error_response(result) if isinstance(result, ApiError) else result


def _add_routes(app: "FastAPI", service: "Service") -> None:
    from fastapi import Response
    from fastapi.responses import HTMLResponse

    @app.post("/sourcegraph/query", response_model=QueryAnswer, responses=ERRORS)
    async def sourcegraph_query(body: QueryRequest):
        """Natural language -> Sourcegraph query."""
        return respond(await service.query(body))

    @app.post("/query", response_model=QueryAnswer, responses=ERRORS)
    async def query(body: QueryRequest):
        """The original endpoint: same as /sourcegraph/query."""
        return respond(await service.query(body))

    @app.post("/qmd/expand", response_model=ExpandAnswer, responses=ERRORS)
    async def qmd_expand(body: ExpandRequest):
        """Search query -> lex / vec / hyde expansion lines."""
        return respond(await service.expand(body))

    @app.post("/v1/chat/completions", response_model=ChatAnswer, responses=ERRORS)
    async def chat_completions(body: ChatRequest):
        """OpenAI-compatible chat completion; ``model`` is an adapter name."""
        return respond(await service.chat(body))

    @app.get("/v1/models", response_model=ModelList)
    async def list_models():
        return service.models()

    @app.get("/healthz")
    async def healthz():
        return service.health()

    @app.get("/metrics")
    async def metrics():
        content, media_type = service.metrics.render()
        return Response(content, media_type=media_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground():
        return HTMLResponse(PLAYGROUND.read_text(encoding="utf-8"))


def _add_error_handlers(app: "FastAPI") -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request, exc: RequestValidationError):
        return error_response(validation_error(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, kind, str(exc.detail)))

    @app.exception_handler(Exception)
    async def internal(_request, exc: Exception):
        log.exception("unhandled error")
        return error_response(ApiError(500, "internal", f"internal error ({type(exc).__name__}); see server log"))


def validation_error(errors: list[dict]) -> ApiError:
    """The first pydantic error as an ApiError: 400 for unreadable JSON, else 422, field dotted."""
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    if first["type"] == "json_invalid":
        return ApiError(400, "invalid_json", f"the body is not valid JSON ({first.get('ctx', {}).get('error', '')})",
                        "body")
    message = "unknown field (not allowed here)" if first["type"] == "extra_forbidden" else first["msg"]
    message = message.removeprefix("Value error, ")  # our validators' messages quote the value already
    got = first.get("input")
    quiet = first["type"] in ("missing", "extra_forbidden", "value_error") or got is None
    shown = "" if quiet else f" (got {got!r:.80})"
    return ApiError(422, "invalid_request", f"{field}: {message}{shown}", field)


def _add_guard(app: "FastAPI", service: "Service") -> None:
    """API key, body size and HTTP metrics, for every request."""
    env = service.cfg.api_key_env
    api_key = os.environ.get(env, "") if env else ""
    if not api_key:
        log.warning("no API key (%s), so every route is open; keep the server on loopback",
                    f"${env} is unset" if env else "api_key_env is null")
    max_body = service.cfg.limits.max_body_bytes
    paths = {route.path for route in app.routes}  # metric labels: known paths only, bounded cardinality

    @app.middleware("http")
    async def guard(request, call_next):
        began = time.perf_counter()
        refusal = _authorize(request, api_key) or await _check_size(request, max_body)
        response = error_response(refusal) if refusal else await call_next(request)
        route = request.url.path if request.url.path in paths else "unmatched"
        service.metrics.observe(route, response.status_code, time.perf_counter() - began)
        return response


def _authorize(request, api_key: str) -> ApiError | None:
    if not api_key or request.url.path in OPEN_PATHS:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode()):
        return None
    return ApiError(401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "Authorization")


async def _check_size(request, max_body: int) -> ApiError | None:
    """Judge the size from Content-Length before reading; a chunked body is read only up to the limit,
    so no client can make the server buffer gigabytes to find out."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) <= max_body:
            return None
        size = f"{declared} bytes"
    elif await _fits(request, max_body):
        return None
    else:
        size = f"over {max_body} bytes (chunked)"
    return ApiError(413, "body_too_large", f"the body is {size}; the limit is {max_body} (limits.max_body_bytes)",
                    "body")


async def _fits(request, max_body: int) -> bool:
    """Read a body sent without Content-Length, stopping once it passes ``max_body``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            return False
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette's cache of request.body(): call_next hands it on to the route
    return True
