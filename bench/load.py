"""HTTP load against a running server: one-at-a-time latency, and closed-loop levels of concurrency.

Closed loop: ``concurrency`` clients each send their next request as soon as the last
one is answered, for ``duration_s``. The clients are spread over several processes
(spawned, so they never share the benchmark's CUDA state), because one Python event
loop tops out near the request rates the goal asks for. Throughput counts the answers
that finished inside the measured window, after a warm-up; latency is the round trip
seen by the client, split by the server's ``Server-Timing`` stages (``querytune.serve.timing``),
with ``outside_app`` = the round trip less the app's own time (proxy, network, client). A task
route's answer says how many resamples it took and whether the engine cut it at ``max_tokens``;
both are counted, since a resampled answer costs its engine twice or more.
"""
from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

from bench.common import percentiles
from querytune.serve import timing

Request = tuple[str, dict[str, Any]]  # (path, JSON body)
#: (path, status, seconds, finished at, retries, truncated, the server's stages in ms)
Sample = tuple[str, int, float, float, int, bool, dict[str, float]]


def _answer_facts(response) -> tuple[int, bool]:
    """Resamples and truncation of a task route's answer (other routes and error bodies: 0, False)."""
    try:
        body = response.json()
    except ValueError:
        return 0, False
    if not isinstance(body, dict):
        return 0, False
    return int(body.get("retries") or 0), bool(body.get("truncated"))


async def _clients(base_url: str, requests: Sequence[Request], concurrency: int, stop_at: float,
                   offset: int = 0, count: int | None = None) -> list[Sample]:
    """Run ``concurrency`` clients until ``stop_at`` (epoch seconds) or until ``count`` requests were sent."""
    import httpx

    order = itertools.islice(itertools.cycle(range(len(requests))), offset % len(requests), None)
    sent = itertools.count()
    samples: list[Sample] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        async def one_client() -> None:
            while time.time() < stop_at and (count is None or next(sent) < count):
                path, body = requests[next(order)]
                began = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                except httpx.HTTPError:
                    samples.append((path, 0, time.perf_counter() - began, time.time(), 0, False, {}))
                    continue
                seconds = time.perf_counter() - began
                stages = timing.parse_header(response.headers.get(timing.HEADER, ""))
                samples.append((path, response.status_code, seconds, time.time(), *_answer_facts(response), stages))

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return samples


def _process(args: tuple) -> list[Sample]:
    return asyncio.run(_clients(*args))


def sequential(base_url: str, requests: Sequence[Request], count: int) -> dict[str, Any]:
    """``count`` requests, one at a time: the latency a lone user sees (ms)."""
    return summarize(asyncio.run(_clients(base_url, requests, 1, time.time() + 3600, count=count)), window_s=None)


def closed_loop(pool: ProcessPoolExecutor, base_url: str, requests: Sequence[Request], concurrency: int,
                duration_s: float, warmup_s: float, processes: int) -> dict[str, Any]:
    """One level: throughput (answers/s in the window) and latency percentiles."""
    processes = max(1, min(processes, concurrency))
    began = time.time()
    stop_at = began + warmup_s + duration_s
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    jobs = [(base_url, requests, share, stop_at, i * 7919) for i, share in enumerate(shares)]
    samples = [s for part in pool.map(_process, jobs) for s in part]
    window = [s for s in samples if s[3] >= began + warmup_s and s[3] <= stop_at]
    return {"concurrency": concurrency, **summarize(window, window_s=duration_s)}


def summarize(samples: list[Sample], window_s: float | None) -> dict[str, Any]:
    ok = [s for s in samples if s[1] == 200]
    result: dict[str, Any] = {"requests": len(samples), "errors": len(samples) - len(ok),
                              "latency_ms": percentiles([s[2] * 1e3 for s in ok]),
                              "resampled": sum(s[4] > 0 for s in ok), "truncated": sum(s[5] for s in ok)}
    if window_s:
        result["throughput_rps"] = len(ok) / window_s
    by_path: dict[str, list[float]] = {}
    for path, _, seconds, *_ in ok:
        by_path.setdefault(path, []).append(seconds * 1e3)
    result["by_route"] = {path: percentiles(values) for path, values in by_path.items()}
    result["stages_ms"] = stage_percentiles(ok)
    return result


def stage_percentiles(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Percentiles of each server stage over the answers that reported it, and of ``outside_app``."""
    by_stage: dict[str, list[float]] = {}
    for _, _, seconds, _, _, _, stages in samples:
        for stage, ms in stages.items():
            by_stage.setdefault(stage, []).append(ms)
        if "app" in stages:
            by_stage.setdefault("outside_app", []).append(seconds * 1e3 - stages["app"])
    return {stage: percentiles(values) for stage, values in by_stage.items()}


def _ready(_: int) -> None:
    import httpx  # noqa: F401  (the import is the slow part of a client's start)

    time.sleep(0.2)  # keep this worker busy so that the next job starts another one


def client_pool(processes: int) -> ProcessPoolExecutor:
    """Client processes, started and warmed now: a level's clock must not run while they spawn."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    list(pool.map(_ready, range(processes)))
    return pool
