"""Thousands of malformed requests against our own server: no 5xx, no hung request, still healthy.

The server is `querytune serve --local` in a child process (the real CLI, the real app, the
transformers engine on a tiny model). ``QUERYTUNE_FUZZ_REQUESTS`` sets how many requests are
sent (default 2,000; the documented run in RELIABILITY.md uses 10,000 or more).
"""
from __future__ import annotations

import os
import time
from collections import Counter

import httpx
from hypothesis import HealthCheck, given, settings

from tests.reliability.conftest import API_KEY, LocalServer, auth
from tests.reliability.malformed import VALID, Probe, probes

FUZZ_REQUESTS = int(os.environ.get("QUERYTUNE_FUZZ_REQUESTS", "2000"))
CLIENT_TIMEOUT_S = 30  # a request without an answer by then counts as hung


def send(client: httpx.Client, probe: Probe) -> httpx.Response:
    headers = {**probe.headers, **(auth() if probe.authorized else {})}
    return client.request(probe.method, probe.path, content=probe.body() if probe.content else None, headers=headers)


def check_answer(probe: Probe, response: httpx.Response) -> None:
    """What every answer to a malformed request must be: a 4xx naming the problem, or a 2xx."""
    assert response.status_code < 500, f"{probe.kind}: {response.status_code} {response.text[:300]}"
    if not probe.authorized:
        assert response.status_code == 401, f"{probe.kind}: a request without the right key got through"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"], f"{probe.kind}: unnamed error {response.text[:300]}"


def test_malformed_requests_get_4xx_never_5xx_nor_hang(keyed_server: LocalServer):
    statuses: Counter[str] = Counter()
    slowest = [0.0, ""]
    client = httpx.Client(base_url=keyed_server.url, timeout=CLIENT_TIMEOUT_S)

    @settings(max_examples=FUZZ_REQUESTS, deadline=None, database=None, derandomize=True, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(probe=probes())
    def one_request(probe: Probe) -> None:
        began = time.perf_counter()
        response = send(client, probe)  # a timeout raises here: a hung request fails the test
        seconds = time.perf_counter() - began
        statuses[f"{probe.kind} {response.status_code}"] += 1
        if seconds > slowest[0]:
            slowest[:] = [seconds, f"{probe.kind} {probe.path}"]
        check_answer(probe, response)

    began = time.perf_counter()
    with client:
        one_request()
        sent = sum(statuses.values())
        print(f"\nfuzz: sent {sent} malformed requests in {time.perf_counter() - began:.1f} s; slowest "
              f"{slowest[0] * 1e3:.0f} ms ({slowest[1]}); 5xx: 0; hung: 0")
        by_status = Counter(key.rsplit(" ", 1)[1] for key in statuses.elements())
        print(f"fuzz: status codes {dict(sorted(by_status.items()))}")
        print(f"fuzz: by kind {dict(sorted(statuses.items()))}")

        assert keyed_server.alive()
        assert client.get("/healthz").json()["status"] == "ok"
        answer = client.post("/sourcegraph/query", json=VALID["/sourcegraph/query"], headers=auth(API_KEY))
        assert answer.status_code == 200 and "query" in answer.json()
    assert sent >= min(FUZZ_REQUESTS, 1000), f"hypothesis stopped after {sent} requests"
