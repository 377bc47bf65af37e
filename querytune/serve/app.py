"""Application builders: the Ray Serve application, and the same app without Ray.

``build_app(cfg)`` binds plain classes into deployments (Ray lines marked ``[ray]``):

* ``Ingress``: the FastAPI app of ``api.create_app``, one replica set, autoscaled;
  its routes reach the models through deployment handles (``HandleEngine``).
* ``LLMServer``: one deployment per base model holding that base's task adapters
  (``engine_loader.load_engine``), autoscaled on ongoing requests. A transformers engine
  batches concurrent requests itself (streaming ones too); a vLLM replica hands them to
  vLLM, which batches continuously.
* ``RuntimeAdapters``: one replica holding the adapters loaded with
  ``POST /v1/load_lora_adapter``, so every ingress replica serves the same ones.

``local_app(cfg)`` is the same FastAPI app with the engines in-process: it runs under
uvicorn without Ray (``querytune serve --local``, tests, the eval harness).

The API key is read here, where the app is built (the caller's shell for ``querytune
serve``, the cluster for ``serve deploy``), and travels to the ingress replicas as an
init argument: a replica's own environment is the raylet's, which never saw the
caller's ``$QUERYTUNE_API_KEY``. ``/healthz`` answers 200 only once every LLM
deployment has answered a warm-up request; ``/livez`` answers as soon as the ingress runs.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from querytune.serve.api import ApiKey, create_app, resolve_api_key
from querytune.serve.catalog import ServedModel, resolve_catalog
from querytune.serve.config import LLMDeployment, ServeConfig, ServeFile, require_key_off_loopback
from querytune.serve.engine_loader import load_engine
from querytune.serve.engines import Generation, Prompt, Sampling
from querytune.serve.metrics import Metrics
from querytune.serve.runtime import RuntimeAdapters
from querytune.serve.service import Service

if TYPE_CHECKING:
    from fastapi import FastAPI
    from ray.serve import Application

log = logging.getLogger(__name__)
INGRESS_NAME = "Ingress"
RUNTIME_NAME = "RuntimeAdapters"
READY_TIMEOUT_S = 900  # `querytune serve` waits this long for /healthz after deploying (a vLLM start is minutes)


class LLMServer:
    """One base model with its adapters (a deployment once ``build_app`` binds it). The engine batches
    concurrent requests itself (a transformers engine by adapter and sampling; vLLM continuously)."""

    async def __init__(self, deployment: LLMDeployment, served: list[ServedModel], runtime_limit: int):
        self.engine = await load_engine(deployment, served, runtime_limit)

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation:
        return await self.engine.generate(prompt, model, sampling)

    async def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling):
        """[ray] called with ``handle.options(stream=True)``: each item travels to the ingress as it comes."""
        async for item in self.engine.stream(prompt, model, sampling):
            yield item

    async def unload(self, name: str) -> None:
        await self.engine.unload(name)


class HandleEngine:
    """An ``Engine`` living in another deployment, reached through its handle."""

    def __init__(self, handle):
        self.handle = handle

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation:
        return await self.handle.generate.remote(prompt, model, sampling)  # [ray]

    async def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling):
        items = self.handle.options(stream=True).stream.remote(prompt, model, sampling)  # [ray]
        try:
            async for item in items:
                yield item
        finally:
            items.cancel()  # [ray] a client that left stops the replica's generation too (a no-op once done)

    async def unload(self, name: str) -> None:
        # [ray] every live replica drops it; a replica that fails to answer drops it as least recently used
        await self.handle.broadcast("unload", name).results_async(timeout_s=30, return_exceptions=True)


class HandleRuntime:
    """The ``RuntimeAdapters`` deployment, reached through its handle: one list for every ingress replica."""

    def __init__(self, handle):
        self.handle = handle

    async def get(self, name: str):
        return await self.handle.get.remote(name)  # [ray]

    async def entries(self):
        return await self.handle.entries.remote()  # [ray]

    async def load(self, name: str, deployment: str | None = None):
        return await self.handle.load.remote(name, deployment)  # [ray]

    async def unload(self, name: str):
        return await self.handle.unload.remote(name)  # [ray]


class Ingress:
    """The FastAPI front door; built on the replica by ``__serve_build_asgi_app__``."""

    async def __init__(self, cfg: ServeConfig, catalog: dict[str, ServedModel], llms: dict[str, Any],
                       runtime: Any, api_key: ApiKey | None):
        import asyncio

        engines = {name: HandleEngine(handle) for name, handle in llms.items()}
        self.service = Service(cfg, catalog, engines, HandleRuntime(runtime), Metrics(ray=True))
        self.api_key = api_key
        # LLM replicas may still be loading: /healthz says 503 until each has answered once
        self._warming = asyncio.create_task(self.service.warm_up(retry=True))

    def __serve_build_asgi_app__(self) -> "FastAPI":
        return create_app(self.service, self.api_key)


def build_app(cfg: ServeConfig) -> "Application":
    """Ingress + one LLM deployment per base model, each with its autoscaling config, + the runtime adapters."""
    from ray import serve

    catalog = resolve_catalog(cfg)
    api_key = resolve_api_key(cfg.api_key_env)
    llms = {}
    for deployment in cfg.deployments:
        served = [entry for entry in catalog.values() if entry.deployment == deployment.name]
        options = deployment.replica.ray()
        log.info("deployment %s: engine=%s models=%s %s", deployment.name, deployment.engine,
                 [e.name for e in served], options)
        llms[deployment.name] = serve.deployment(LLMServer, name=deployment.name, **options).bind(  # [ray]
            deployment, served, cfg.limits.max_runtime_adapters)
    runtime = serve.deployment(RuntimeAdapters, name=RUNTIME_NAME, num_replicas=1,  # [ray] one list for all
                               ray_actor_options={"num_cpus": 0},
                               logging_config={"enable_access_log": cfg.ingress.access_log}).bind(cfg, catalog)
    log.info("deployment %s: routes=%s %s", INGRESS_NAME, {k: v.model for k, v in cfg.routes.items()},
             cfg.ingress.ray())
    ingress = serve.deployment(serve.ingress()(Ingress), name=INGRESS_NAME, **cfg.ingress.ray())  # [ray]
    return ingress.bind(cfg, catalog, llms, runtime, api_key)


def build_from_args(args: dict) -> "Application":
    """The ``import_path`` of configs/serve.yaml: Ray passes ``applications[0].args``."""
    from querytune.platform.config import validate

    return build_app(validate(ServeConfig, args, "serve application args"))


def local_app(cfg: ServeConfig) -> "FastAPI":
    """The app with in-process engines, loaded and warmed up before the first request (no Ray)."""
    catalog = resolve_catalog(cfg)
    api_key = resolve_api_key(cfg.api_key_env)
    service = Service(cfg, catalog, engines={})

    @asynccontextmanager
    async def lifespan(_app):
        for deployment in cfg.deployments:
            served = [entry for entry in catalog.values() if entry.deployment == deployment.name]
            service.engines[deployment.name] = await load_engine(deployment, served, cfg.limits.max_runtime_adapters)
        await service.warm_up()
        yield
        for engine in service.engines.values():
            getattr(engine, "shutdown", lambda: None)()

    return create_app(service, api_key, lifespan=lifespan)


# --------------------------------------------------------------------------- `querytune serve`
def url_of(file: ServeFile) -> str:
    return f"http://{file.http_options.host}:{file.http_options.port}{file.app.route_prefix}"


def serve_until_interrupted(file: ServeFile) -> None:
    """Start Ray (or join RAY_ADDRESS), deploy, wait for /healthz, print the URL, block until Ctrl-C."""
    import ray
    from ray import serve

    from querytune.platform.launch import ensure_ray

    require_key_off_loopback(file.http_options.host, file.app.args)  # --host may have changed it
    application = build_app(file.app.args)  # config, key and registry errors surface before Ray starts
    joined = bool(os.environ.get("RAY_ADDRESS")) or ray.is_initialized()
    ensure_ray()
    signal.signal(signal.SIGTERM, _raise_interrupt)  # after ray.init, which installs its own handler
    try:
        serve.start(http_options=file.http_options.model_dump())
        serve.run(application, name=file.app.name, route_prefix=file.app.route_prefix, blocking=False)
        _wait_until_ready(file)
        print(f"querytune is serving at {url_of(file)} (Ctrl-C stops it)", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("shutting down", flush=True)
    finally:
        serve.delete(file.app.name)  # drains in-flight requests, then stops the replicas
        if not joined:  # a cluster we started goes with us; a joined one keeps running
            ray.shutdown()


def _wait_until_ready(file: ServeFile) -> None:
    """Poll the proxy's /healthz until every engine has answered its warm-up."""
    import httpx

    host = "127.0.0.1" if file.http_options.host in ("0.0.0.0", "::") else file.http_options.host
    url = f"http://{host}:{file.http_options.port}{file.app.route_prefix.rstrip('/')}/healthz"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {READY_TIMEOUT_S} s; see `serve status`")


def _raise_interrupt(*_args) -> None:
    raise KeyboardInterrupt


def serve_local(file: ServeFile) -> None:
    """The app under uvicorn, engines in this process (no Ray); the URL is printed once it listens."""
    import asyncio

    import uvicorn

    from querytune.serve.connections import uvicorn_options

    require_key_off_loopback(file.http_options.host, file.app.args)  # --host may have changed it
    server = uvicorn.Server(uvicorn.Config(local_app(file.app.args), log_level="info", **uvicorn_options(file)))
    where = f"http://{file.http_options.host}:{file.http_options.port}/"
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal to the handler found before it started:
    # ours turns it into KeyboardInterrupt, so a drained server exits with status 0.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        asyncio.run(_announce_when_listening(server, f"querytune is serving at {where} without Ray (Ctrl-C stops it)"))
    except KeyboardInterrupt:
        print("shut down", flush=True)


async def _announce_when_listening(server, message: str) -> None:
    import asyncio

    serving = asyncio.create_task(server.serve())  # uvicorn handles SIGINT/SIGTERM: a graceful stop
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if server.started:
        print(message, flush=True)
    await serving
