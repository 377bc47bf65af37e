"""Serving faults: replicas killed under load are replaced, and clients with bounded retries see
(almost) no failed request; a client error stays a 4xx throughout. Clients that leave before their
answer stop costing the server anything.

The Ray Serve application runs on the session's local Ray with two LLM replicas and two ingress
replicas of tiny adapters. A closed-loop load runs while one LLM replica, then one ingress
replica, is SIGKILLed (found by its process title ``ray::ServeReplica:<app>:<deployment>``; the
app name is unique to this test, so no other cluster's replicas match).
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import psutil
import pytest

from querytune.serve.app import INGRESS_NAME
from querytune.serve.config import ServeConfig
from tests.reliability.conftest import API_KEY, auth, free_port, local_server, serve_args, write_serve_file

LLM = "tiny"
CONCURRENCY = 4
ATTEMPTS = 3  # the client's normal retries: 1 try + 2 retries on a 5xx or a dropped connection
BACKOFF_S = (0.25, 1.0)
FAILED_RATE_GOAL = 0.001
SETTLE_S = 5  # load kept up after each replacement, to see the deployment serve normally again
GOOD = [("/qmd/expand", {"query": "kubernetes pod restarts"}),
        ("/sourcegraph/query", {"query": "find Python files with async functions"})]
BAD = ("/qmd/expand", {"query": ""})  # a client error, sent every tenth request


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0  # still not answered after every retry
    retried: int = 0  # answered, but not at the first try
    client_errors: Counter = field(default_factory=Counter)  # status codes of the deliberately bad requests
    first_try: Counter = field(default_factory=Counter)  # status (or 'connection') of each first attempt
    our_5xx: list = field(default_factory=list)  # bodies of our own 5xx errors (not the proxy's)


async def attempt(client: httpx.AsyncClient, path: str, body: dict, tally: Tally) -> int | str:
    try:
        response = await client.post(path, json=body)
    except httpx.HTTPError as err:
        return type(err).__name__
    if response.status_code >= 500 and response.headers.get("content-type") == "application/json":
        tally.our_5xx.append(response.text)
    return response.status_code


async def request_with_retries(client: httpx.AsyncClient, path: str, body: dict, tally: Tally) -> None:
    tally.sent += 1
    for n in range(ATTEMPTS):
        status = await attempt(client, path, body, tally)
        if n == 0:
            tally.first_try[status] += 1
        if isinstance(status, int) and status < 500:
            tally.retried += n > 0
            if body is BAD[1]:
                tally.client_errors[status] += 1
            return
        if n < ATTEMPTS - 1:
            await asyncio.sleep(BACKOFF_S[n])
    tally.failed += 1


async def closed_loop(url: str, stop: threading.Event, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def user(offset: int) -> None:
            i = offset
            while not stop.is_set():
                path, body = BAD if i % 10 == 9 else GOOD[i % len(GOOD)]
                await request_with_retries(client, path, body, tally)
                i += CONCURRENCY

        await asyncio.gather(*(user(k) for k in range(CONCURRENCY)))


def replica_pids(app: str, deployment: str) -> set[int]:
    title = f"ray::ServeReplica:{app}:{deployment}"
    return {p.pid for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith(title)}


def running(app: str, deployment: str) -> int:
    from ray import serve

    return serve.status().applications[app].deployments[deployment].replica_states.get("RUNNING", 0)


def kill_one_and_wait_for_replacement(app: str, deployment: str, timeout_s: float = 180) -> dict:
    """SIGKILL one replica of ``deployment``; return when Serve runs a new one in its place."""
    before = replica_pids(app, deployment)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    deadline = killed_at + timeout_s
    while not (replica_pids(app, deployment) - before and running(app, deployment) == len(before)):
        assert time.time() < deadline, f"{deployment}: no replacement for replica {victim} after {timeout_s} s"
        time.sleep(0.2)
    return {"deployment": deployment, "pid": victim, "recovered_s": round(time.time() - killed_at, 1)}


@pytest.fixture
def serve_url(ray_local, tiny_registry):
    from ray import serve

    from querytune.serve.app import build_app

    app = f"reliability-{uuid.uuid4().hex[:6]}"
    fixed = lambda n: {"min_replicas": n, "max_replicas": n}  # noqa: E731 - no autoscaling: only the kill changes it
    cfg = ServeConfig.model_validate(serve_args(
        tiny_registry, api_key_env=None,
        ingress={"num_cpus": 0.1, "autoscaling": fixed(2)},
        deployments=[{"name": LLM, "adapters": [{"adapter": "sg-tiny"}, {"adapter": "qmd-tiny"}],
                      "replica": {"num_cpus": 0.1, "max_ongoing_requests": 8, "autoscaling": fixed(2)},
                      "transformers": {"threads": 1}}]))
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(cfg), name=app, route_prefix="/")
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def test_killed_replicas_are_replaced_and_retrying_clients_lose_no_request(serve_url):
    app, url = serve_url
    assert running(app, LLM) == 2 and running(app, INGRESS_NAME) == 2
    tally, stop = Tally(), threading.Event()
    load = threading.Thread(target=asyncio.run, args=(closed_loop(url, stop, tally),))
    began = time.time()
    load.start()
    try:
        time.sleep(SETTLE_S)
        faults = []
        for deployment in (LLM, INGRESS_NAME):
            faults.append(kill_one_and_wait_for_replacement(app, deployment))
            time.sleep(SETTLE_S)
    finally:
        stop.set()
        load.join(120)
    took = time.time() - began

    rate = tally.failed / max(tally.sent, 1)
    print(f"\nserve faults: {tally.sent} requests in {took:.0f} s ({CONCURRENCY} clients, up to {ATTEMPTS} tries), "
          f"failed after retries {tally.failed} ({rate:.3%}), retried {tally.retried}, "
          f"first tries {dict(tally.first_try)}, client errors {dict(tally.client_errors)}; faults {faults}")
    assert not load.is_alive(), "the load generator hung"
    assert tally.sent >= 50, "too little load to judge"
    assert rate <= FAILED_RATE_GOAL, f"{tally.failed} of {tally.sent} requests failed after {ATTEMPTS} tries"
    assert set(tally.client_errors) == {422}, f"a client error got {dict(tally.client_errors)}"
    internals = ("pid=", "ip=", "actor", "Traceback", "127.0.0.1", "Error:")  # Ray's error text holds all of these
    leaks = [text for text in tally.our_5xx if any(mark in text for mark in internals)]
    assert not leaks, f"error bodies carry server internals: {leaks[:2]}"


# --------------------------------------------------------------------------- clients that leave
LONG_ANSWER = 1024  # tokens: about 4 s of generation for tiny-qwen3 on one thread
LEFT = 20  # clients that give up all at once, once the server holds every one of them
STAY_S = 0.5  # and has been generating for them this long
CHAT = '{route="/v1/chat/completions"'


@pytest.fixture(scope="module")
def long_answer_server(tiny_registry, tmp_path_factory):
    """`querytune serve --local` whose chat completions may run LONG_ANSWER tokens."""
    folder = tmp_path_factory.mktemp("long-answers")
    args = serve_args(tiny_registry)
    args["limits"].update(max_tokens=LONG_ANSWER, timeout_s=120)
    with local_server(write_serve_file(folder / "serve.yaml", args), folder / "server.log", API_KEY) as server:
        yield server


def chat_series(text: str, name: str) -> dict[str, float]:
    """The chat route's samples of one series in a /metrics page, by their labels after the route."""
    prefix = name + CHAT
    return {line[len(prefix):].split("}")[0]: float(line.split()[-1]) for line in text.splitlines()
            if line.startswith(prefix)}


def chat_statuses(server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", headers=auth(), timeout=10).text
    return {labels.removeprefix(',status="').strip('"'): value
            for labels, value in chat_series(text, "querytune_requests_total").items()}


async def leave_early(url: str) -> float:
    """Send LEFT long chat completions, wait until the server is answering all of them (its in-flight
    gauge; a fixed timeout let a slow machine's clients leave before sending), stay STAY_S while
    their answers are generated, then drop every connection at once. Returns the seconds the clients stayed."""
    body = {"model": "qmd-tiny", "messages": [{"role": "user", "content": "auth config"}], "max_tokens": LONG_ANSWER}
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=auth(), timeout=120) as client:
        calls = [asyncio.ensure_future(client.post("/v1/chat/completions", json=body)) for _ in range(LEFT)]
        async with httpx.AsyncClient(base_url=url, headers=auth(), timeout=10) as probe:
            while chat_series((await probe.get("/metrics")).text, "querytune_requests_in_flight").get("") != LEFT:
                assert not any(call.done() for call in calls), "an answer came back before all clients were in"
                await asyncio.sleep(0.02)
        await asyncio.sleep(STAY_S)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
    return time.perf_counter() - began


def test_generation_stops_when_its_client_leaves(long_answer_server):
    """The probe: 20 clients that left cost 17.9 CPU-s, the next request waited 17.8 s, and /metrics
    counted them as 200. Now each is cancelled (counted as 499) and the next request runs at once."""
    server = psutil.Process(long_answer_server.process.pid)
    cpu = lambda: sum(server.cpu_times()[:2])  # noqa: E731
    before = cpu()
    stayed = asyncio.run(leave_early(long_answer_server.url))
    began = time.perf_counter()
    short = {"model": "qmd-tiny", "messages": [{"role": "user", "content": "auth config"}], "max_tokens": 4}
    answer = httpx.post(long_answer_server.url + "/v1/chat/completions", json=short, headers=auth(), timeout=120)
    waited, spent = time.perf_counter() - began, cpu() - before
    time.sleep(0.5)
    mark = cpu()
    time.sleep(1)  # a generation still running for a departed client would show here
    idle_cpu = cpu() - mark
    statuses = chat_statuses(long_answer_server)
    print(f"\n{LEFT} clients left after {stayed:.2f} s: the next request waited {waited:.2f} s; server "
          f"{spent:.2f} CPU-s until then, {idle_cpu:.2f} CPU-s in the second after; statuses {statuses}")
    assert answer.status_code == 200
    assert statuses.get("499") == LEFT and statuses.get("200") == 1, statuses
    assert idle_cpu < 0.5, "the server kept generating for clients that had left"


def test_a_client_that_leaves_inside_its_body_is_counted_as_gone(long_answer_server):
    """FastAPI answers 400 ("error parsing the body") when the body never arrives: that client saw no
    400 and sent nothing wrong, so /metrics counts it 499 like any client that left."""
    before = chat_statuses(long_answer_server)
    host, port = long_answer_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"model\": ".encode())
    deadline = time.time() + 30
    while chat_statuses(long_answer_server).get("499", 0) == before.get("499", 0) and time.time() < deadline:
        time.sleep(0.05)
    after = chat_statuses(long_answer_server)
    assert after.get("499", 0) == before.get("499", 0) + 1 and after.get("400") == before.get("400"), after
    text = httpx.get(long_answer_server.url + "/metrics", headers=auth(), timeout=10).text
    assert chat_series(text, "querytune_requests_in_flight") == {"": 0}
