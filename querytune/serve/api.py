"""The HTTP surface: routes, errors, the guard every request passes.

Routes are thin: they hand a validated body (``schemas``) to ``service.Service`` and
turn what comes back, an answer, a ``Stream`` (Server-Sent Events in OpenAI's chunk
format, ending ``data: [DONE]``) or an ``ApiError`` value, into a response. Every error
has one shape, ``{"error": {"type", "message", "field", "param"}}`` (``param`` is
OpenAI's name for the field, which the ``openai`` client reads): a bad body is a 4xx
naming the field (400 on the OpenAI routes under ``/v1/``, as OpenAI answers it; 422 on
the task routes), a request beyond a limit a 422, an unknown model a 404 naming it, a
body over the size limit a 413; nothing a client sends produces a 500, and no error body
carries the server's internals (hosts, process or actor ids): those go to the log.

``POST /v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` change what is served, so
they need the API key even on a server that runs without one (403 there).

Every answer carries a ``Server-Timing`` header: where its time went (``timing``).

A route whose client disconnects stops waiting and cancels its generation, so a client
that gave up costs nothing more; it is counted as status 499.

``create_app(service, api_key)`` builds a plain FastAPI app: it runs under uvicorn
without Ray (``app.local_app``) and inside the Ray Serve ingress replica (``app.Ingress``).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request  # module level: FastAPI resolves route annotations here

from querytune.platform.config import ConfigError
from querytune.serve import timing
from querytune.serve.schemas import (ERRORS, AdapterAnswer, ApiError, ChatAnswer, ChatRequest, CompletionAnswer,
                                     CompletionRequest, ExpandAnswer, ExpandRequest, LoadAdapterRequest, ModelCard,
                                     ModelList, QueryAnswer, QueryRequest, Stream, UnloadAdapterRequest)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from querytune.serve.service import Service

log = logging.getLogger(__name__)
PLAYGROUND = Path(__file__).with_name("playground.html")
OPEN_PATHS = frozenset({"/healthz", "/livez", "/"})  # readiness, liveness, the static page (it holds no data)
ADMIN_PATHS = frozenset({"/v1/load_lora_adapter", "/v1/unload_lora_adapter"})  # always need the key
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may hold events back
CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection before the answer"


# --------------------------------------------------------------------------- API key
@dataclass(frozen=True)
class ApiKey:
    """The key as it travels to replicas (init args): its repr hides it, so no log or status shows it."""

    value: str = field(repr=False)


def resolve_api_key(env: str | None) -> ApiKey | None:
    """Read the key where the app is built; a server told to require one refuses to start without it."""
    if env is None:
        return None
    value = os.environ.get(env, "")
    if not value:
        raise ConfigError(f"api_key_env={env!r} but ${env} is unset or empty: export {env}=<key> before "
                          "starting, or set api_key_env: null to serve without a key (loopback only)")
    return ApiKey(value)


# --------------------------------------------------------------------------- app
def create_app(service: "Service", api_key: ApiKey | None, lifespan=None) -> "FastAPI":
    """The FastAPI app over ``service``; ``lifespan`` may load engines before serving."""
    from fastapi import FastAPI

    app = FastAPI(title="querytune", summary="Search queries from fine-tuned small models.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)  # no docs pages: they load CDN assets
    _add_error_handlers(app)
    _add_routes(app, service)
    _add_guard(app, service, api_key)
    return app


def error_response(err: ApiError):
    from fastapi.responses import JSONResponse

    return JSONResponse(err.body(), status_code=err.status)


def respond(result):
    """An answer as itself, an ``ApiError`` as its JSON error response, a ``Stream`` as Server-Sent Events."""
    from fastapi.responses import StreamingResponse

    if isinstance(result, ApiError):
        return error_response(result)
    if isinstance(result, Stream):
        return StreamingResponse(server_sent_events(result.chunks), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    return result


async def server_sent_events(chunks):
    """OpenAI's stream: one ``data:`` event per chunk, then ``data: [DONE]``."""
    async for chunk in chunks:
        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _generating_route(call, body_type: type, doc: str):
    """A POST route that validates ``body_type``, hands it to ``call`` and answers what comes back,
    giving up (and cancelling the generation) when its client disconnects."""
    async def route(body, request: Request):
        return respond(await while_connected(request, call(body)))

    route.__annotations__ = {"body": body_type, "request": Request}  # FastAPI reads the body's type here
    route.__doc__ = doc
    return route


def _add_routes(app: "FastAPI", service: "Service") -> None:
    from fastapi import Response
    from fastapi.responses import HTMLResponse, JSONResponse

    generating = [  # (path, body, answer, service call, what it does): each waits while its client stays
        ("/sourcegraph/query", QueryRequest, QueryAnswer, service.query, "Natural language -> Sourcegraph query."),
        ("/query", QueryRequest, QueryAnswer, service.query, "The original endpoint: same as /sourcegraph/query."),
        ("/qmd/expand", ExpandRequest, ExpandAnswer, service.expand, "Search query -> lex / vec / hyde "
         "expansion lines."),
        ("/v1/chat/completions", ChatRequest, ChatAnswer, service.chat, "OpenAI-compatible chat completion "
         "(``stream`` for Server-Sent Events); ``model`` is an adapter name."),
        ("/v1/completions", CompletionRequest, CompletionAnswer, service.completion, "OpenAI-compatible text "
         "completion: the prompt goes to the model as is (no chat template)."),
    ]
    for path, body_type, answer, call, doc in generating:  # named as the handlers were: chat_completions, ...
        app.add_api_route(path, _generating_route(call, body_type, doc), methods=["POST"], response_model=answer,
                          responses=ERRORS, name=path.strip("/").removeprefix("v1/").replace("/", "_"))

    @app.get("/v1/models", response_model=ModelList)
    async def list_models():
        return await service.models()

    @app.get("/v1/models/{model_id}", response_model=ModelCard, responses=ERRORS)
    async def get_model(model_id: str):
        return respond(await service.model(model_id))

    @app.post("/v1/load_lora_adapter", response_model=AdapterAnswer, responses=ERRORS)
    async def load_lora_adapter(body: LoadAdapterRequest):
        """Serve a registry adapter until unloaded (its base hash must be a served base's)."""
        return respond(await service.load_adapter(body))

    @app.post("/v1/unload_lora_adapter", response_model=AdapterAnswer, responses=ERRORS)
    async def unload_lora_adapter(body: UnloadAdapterRequest):
        return respond(await service.unload_adapter(body))

    @app.get("/healthz")
    async def healthz():
        """Readiness: 200 once every engine has answered its warm-up request, 503 before."""
        ready = service.ready()
        return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)

    @app.get("/livez")
    async def livez():
        """Liveness: the process answers HTTP, warmed up or not."""
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        content, media_type = service.metrics.render()
        return Response(content, media_type=media_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground():
        return HTMLResponse(PLAYGROUND.read_text(encoding="utf-8"))


async def while_connected(request: Request, work):
    """Await ``work`` while the client is there; once it leaves, cancel the work (and its generation)."""
    task, gone = asyncio.ensure_future(work), asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        return ApiError(CLIENT_CLOSED, "client_closed", "the client closed the connection; generation was cancelled")
    finally:
        task.cancel()  # a no-op once done; stops the work if the client left or this route is cancelled
        gone.cancel()


async def _disconnect(request: Request) -> None:
    """Returns once the client has gone: the body is read, so the next ASGI message is the disconnect.
    (``request.is_disconnected()`` never sees it behind Starlette's middleware, which must wait for it.)"""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _add_error_handlers(app: "FastAPI") -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request, exc: RequestValidationError):
        return error_response(validation_error(exc.errors(), openai=_route(request).startswith("/v1/")))

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        if isinstance(exc.__cause__, ClientDisconnect):  # FastAPI's 400 for a body its client never finished
            return error_response(ApiError(CLIENT_CLOSED, "client_closed", "the client closed the connection "
                                           "before its body was read"))
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, kind, str(exc.detail)))

    @app.exception_handler(Exception)
    async def internal(_request, exc: Exception):
        log.exception("unhandled error")
        return error_response(ApiError(500, "internal", "internal error; the server log has the details"))


def validation_error(errors: list[dict], openai: bool = False) -> ApiError:
    """The first pydantic error as an ApiError, field dotted: 400 for unreadable JSON and on the OpenAI
    routes (OpenAI's status for an invalid request), else 422."""
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    if first["type"] == "json_invalid":
        return ApiError(400, "invalid_json", f"the body is not valid JSON ({first.get('ctx', {}).get('error', '')})",
                        "body")
    unknown = ("unknown field: this server takes OpenAI's fields and no others (an extra_body field?)" if openai
               else "unknown field (not allowed here)")
    message = unknown if first["type"] == "extra_forbidden" else first["msg"]
    message = message.removeprefix("Value error, ")  # our validators' messages quote the value already
    got = first.get("input")
    quiet = first["type"] in ("missing", "extra_forbidden", "value_error") or got is None
    shown = "" if quiet else f" (got {got!r:.80})"
    return ApiError(400 if openai else 422, "invalid_request", f"{field}: {message}{shown}", field)


def _route(request) -> str:
    """The path template of the route a request matched ("/v1/models/{model_id}"), else its path."""
    return getattr(request.scope.get("route"), "path", None) or request.url.path


def _add_guard(app: "FastAPI", service: "Service", api_key: ApiKey | None) -> None:
    if api_key is None:
        log.warning("no API key (api_key_env is null), so every route is open; keep the server on loopback")
    # metric labels: route templates only, bounded cardinality
    app.add_middleware(_Guard, service=service, api_key=api_key, paths={route.path for route in app.routes})


class _Guard:
    """Header count, API key, body size, HTTP metrics and the ``Server-Timing`` header, for every request.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) cost 0.35-0.5 ms
    a request on the 2-core CPU, a fifth of a task route's own time outside the engine there. Latency and
    the status are taken when the response starts (a stream's first byte)."""

    def __init__(self, app, service: "Service", api_key: ApiKey | None, paths: set[str]) -> None:
        self.app, self.service, self.api_key, self.paths = app, service, api_key, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request, began, stages = Request(scope, receive), time.perf_counter(), timing.begin()
        flight = scope["path"] if scope["path"] in self.paths else "other"  # the route template is known once routed

        async def answer(message) -> None:
            if message["type"] == "http.response.start":
                seconds = self._observe(request, message["status"], began)
                timed = (timing.HEADER.lower().encode(), timing.header({"app": seconds, **stages}).encode())
                message = {**message, "headers": [*message.get("headers", ()), timed]}
            await send(message)

        limits = self.service.cfg.limits
        self.service.metrics.in_flight(flight, 1)
        try:
            refusal = _check_headers(request, limits.max_headers) or _authorize(request, self.api_key)
            refusal, body = (refusal, None) if refusal else await _check_size(request, limits.max_body_bytes)
            if refusal:
                await error_response(refusal)(scope, receive, answer)
            else:
                await self.app(scope, receive if body is None else _replay(body, receive), answer)
        except ClientDisconnect:  # gone inside a chunked body the guard was reading: nobody to answer
            self._observe(request, CLIENT_CLOSED, began)
        finally:
            self.service.metrics.in_flight(flight, -1)

    def _observe(self, request, status: int, began: float) -> float:
        route, seconds = _route(request), time.perf_counter() - began
        self.service.metrics.observe(route if route in self.paths else "unmatched", status, seconds)
        return seconds


def _replay(body: bytes, receive):
    """The ASGI receive of a request whose body the guard has read: that body, then the client's own
    messages (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def _check_headers(request, max_headers: int) -> ApiError | None:
    count = len(request.headers.raw)
    if count <= max_headers:
        return None
    return ApiError(431, "headers_too_many", f"the request has {count} header lines; the limit is {max_headers} "
                    "(limits.max_headers)", "headers")


def _authorize(request, api_key: ApiKey | None) -> ApiError | None:
    if api_key is None and request.url.path in ADMIN_PATHS:
        return ApiError(403, "forbidden", "loading adapters at runtime needs an API key, and this server has none: "
                        "start it with api_key_env set (and that variable exported)", "Authorization")
    if api_key is None or request.url.path in OPEN_PATHS:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.value.encode()):
        return None
    return ApiError(401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "Authorization")


async def _check_size(request, max_body: int) -> tuple[ApiError | None, bytes | None]:
    """Judge the size from Content-Length before reading; a chunked body is read only up to the limit,
    so no client can make the server buffer gigabytes to find out (and comes back, to be replayed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) <= max_body:
            return None, None
        size = f"{declared} bytes"
    elif (body := await _read_up_to(request, max_body)) is not None:
        return None, body
    else:
        size = f"over {max_body} bytes (chunked)"
    return ApiError(413, "body_too_large", f"the body is {size}; the limit is {max_body} (limits.max_body_bytes)",
                    "body"), None


async def _read_up_to(request, max_body: int) -> bytes | None:
    """A body sent without Content-Length, or None once it passes ``max_body``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
