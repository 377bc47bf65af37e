"""The Ray Serve application on a local cluster: every route over HTTP, and autoscaling 1 -> 2+ -> 1."""
from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from querytune.serve.app import INGRESS_NAME, build_from_args
from tests.serve.conftest import free_port, tiny_serve_config
from tests.serve.routes import check_every_route

APP = "querytune-test"
LLM = "tiny"
FAST_AUTOSCALING = {  # seconds instead of minutes, so a test sees both directions
    "min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 1,
    "upscale_delay_s": 0.5, "downscale_delay_s": 3, "look_back_period_s": 1, "metrics_interval_s": 0.5}


@pytest.fixture(scope="module")
def client(registry):
    from ray import serve

    cfg = tiny_serve_config(registry, deployments=[{
        "name": LLM, "adapters": [{"adapter": "sg-tiny"}, {"adapter": "qmd-tiny"}],
        "replica": {"num_cpus": 0.1, "max_ongoing_requests": 2, "autoscaling": FAST_AUTOSCALING},
        # 1 s: concurrent calls meet on a loaded 2-core box
        "batching": {"max_batch_size": 2, "batch_wait_timeout_s": 1.0},
        "transformers": {"threads": 1}}])
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_from_args(cfg.model_dump(mode="json")), name=APP, route_prefix="/")  # as `serve run` builds it
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            # as `serve` waits
            wait_for(lambda: c.get("/healthz").status_code == 200, 180, "/healthz 200 (engines warmed up)")
            yield c
    finally:
        serve.shutdown()


def running_replicas(deployment: str) -> int:
    from ray import serve

    return serve.status().applications[APP].deployments[deployment].replica_states.get("RUNNING", 0)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


def test_every_route_answers_through_the_serve_proxy(client):
    check_every_route(client)
    assert running_replicas(INGRESS_NAME) == 1 and running_replicas(LLM) == 1


def test_replicas_write_no_log_line_per_request_by_default(client):
    """Serve's access log is a line per request on every replica: off the hot path unless asked for."""
    import ray

    for _ in range(3):
        assert client.post("/qmd/expand", json={"query": "auth config"}).status_code == 200
    logs = Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"
    texts = [path.read_text() for path in logs.glob(f"replica_{APP}_*.log")]
    assert texts and not [line for text in texts for line in text.splitlines()
                          if re.search(r" (POST|GET) /\S* \d{3} | CALL \w+ OK", line)]


def test_bad_input_through_the_proxy_is_a_4xx_naming_the_field(client):
    for path, body, field in (("/sourcegraph/query", {"query": ""}, "query"),
                              ("/qmd/expand", {"query": "x", "extra": 1}, "extra"),
                              ("/v1/chat/completions",
                               {"model": "ghost", "messages": [{"role": "user", "content": "x"}]}, "model")):
        response = client.post(path, json=body)
        assert 400 <= response.status_code < 500 and response.json()["error"]["field"] == field
    big = client.post("/qmd/expand", content=iter([b'{"query": "' + b"x" * 20_000 + b'"}']),
                      headers={"content-type": "application/json"})
    assert big.status_code == 413


def test_concurrent_calls_to_a_replica_share_a_batch(client, registry):
    from ray import serve

    from querytune.serve.catalog import resolve_catalog
    from querytune.serve.engines import Sampling

    handle = serve.get_deployment_handle(LLM, app_name=APP)
    qmd = resolve_catalog(tiny_serve_config(registry))["qmd-tiny"]
    ask = [{"role": "user", "content": "auth config"}]
    calls = [handle.generate.remote(ask, qmd, Sampling(max_tokens=4)) for _ in range(2)]
    sizes = [call.result().info["batch_size"] for call in calls]
    assert sizes == [2, 2]  # one generate call answered both


def test_runtime_adapters_are_one_list_for_every_ingress_replica(client, registry):
    """The adapter list lives in its own deployment (every ingress replica asks it), and an LLM replica
    loads a listed adapter on the first request naming it."""
    from ray import serve

    from querytune.platform import adapters
    from querytune.serve.app import RUNTIME_NAME, HandleEngine

    # api_key_env is null here, so the HTTP route is refused: the list is driven through its handle
    assert client.post("/v1/load_lora_adapter", json={"lora_name": "qmd-tiny"}).status_code == 403
    adapters.register(adapters.resolve("qmd-tiny", registry), "qmd-ray-runtime", registry)
    runtime = serve.get_deployment_handle(RUNTIME_NAME, app_name=APP)
    assert runtime.load.remote("qmd-ray-runtime").result().runtime
    chat = {"model": "qmd-ray-runtime", "max_tokens": 3, "messages": [{"role": "user", "content": "auth"}]}
    answer = client.post("/v1/chat/completions", json=chat)
    assert answer.status_code == 200 and answer.json()["model"] == "qmd-ray-runtime", answer.text
    assert "qmd-ray-runtime" in {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert runtime.unload.remote("qmd-ray-runtime").result().name == "qmd-ray-runtime"
    asyncio.run(HandleEngine(serve.get_deployment_handle(LLM, app_name=APP)).unload("qmd-ray-runtime"))  # broadcast
    assert client.post("/v1/chat/completions", json=chat).status_code == 404


def test_llm_deployment_scales_out_under_load_and_back_in_when_idle(client):
    assert running_replicas(LLM) == 1
    stop, statuses = threading.Event(), []

    def user() -> None:
        while not stop.is_set():
            statuses.append(client.post("/qmd/expand", json={"query": "kubernetes pod restarts"}).status_code)

    users = [threading.Thread(target=user) for _ in range(8)]  # 8 in flight vs target 1 per replica
    for thread in users:
        thread.start()
    try:
        wait_for(lambda: running_replicas(LLM) >= 2, 180, "a second replica under load")
    finally:
        stop.set()
        for thread in users:
            thread.join()
    assert statuses and set(statuses) == {200}  # nothing dropped while replicas were added
    wait_for(lambda: running_replicas(LLM) == 1, 180, "scale-in to one replica when idle")
    assert client.post("/qmd/expand", json={"query": "auth config"}).status_code == 200
