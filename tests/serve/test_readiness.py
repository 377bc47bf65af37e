"""Readiness: the ingress's /healthz says 200 only once every LLM deployment has answered a warm-up
request; /livez answers as soon as the ingress runs. A load balancer or KubeRay probe that trusted
/healthz used to send traffic to an app whose LLM replicas were still loading (or not placed at all).

The LLM deployment is first deployed asking for more CPUs than the cluster has, so it cannot start:
a window that is certain, not a race. It is then deployed with a share that fits.
"""
from __future__ import annotations

import time

import httpx

from querytune.serve.app import build_app
from tests.serve.conftest import free_port, tiny_serve_config

APP = "querytune-readiness"
LLM = "tiny"
UNPLACEABLE_CPUS = 64  # the session's cluster has 8


def config(registry: str, num_cpus: float):
    return tiny_serve_config(registry, deployments=[{
        "name": LLM, "adapters": [{"adapter": "sg-tiny"}, {"adapter": "qmd-tiny"}],
        "replica": {"num_cpus": num_cpus, "autoscaling": {"min_replicas": 1, "max_replicas": 1}},
        "transformers": {"threads": 1}}])


def llm_running() -> bool:
    from ray import serve

    return serve.status().applications[APP].deployments[LLM].replica_states.get("RUNNING", 0) > 0


def wait_for_status(client: httpx.Client, path: str, status: int, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while True:
        try:
            if client.get(path).status_code == status:
                return
        except httpx.HTTPError:
            pass
        assert time.time() < deadline, f"{path} never answered {status}"
        time.sleep(0.25)


def test_healthz_waits_for_every_engine_while_livez_answers_at_once(registry):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve._run(build_app(config(registry, UNPLACEABLE_CPUS)), name=APP, route_prefix="/",  # [ray] no wait
                   _blocking=False)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_for_status(client, "/livez", 200)
            for _ in range(8):  # the LLM replica cannot be placed: not ready, however long we ask
                health = client.get("/healthz")
                assert health.status_code == 503 and health.json() == {"status": "starting"}
                assert not llm_running()
                time.sleep(0.5)

            serve.run(build_app(config(registry, 0.1)), name=APP, route_prefix="/", blocking=False)
            wait_for_status(client, "/healthz", 200)
            assert llm_running()
            answer = client.post("/qmd/expand", json={"query": "auth config"}, timeout=60)
            assert answer.status_code == 200, answer.text
    finally:
        serve.shutdown()
