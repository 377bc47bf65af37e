"""Load generator for a running server: closed or open loop, latency percentiles, a plot.

* **Closed loop** (default): ``concurrency`` clients, each sending its next request as
  soon as the last one is answered. Throughput is what the server sustains.
* **Open loop** (``open_loop_rps``): requests start on a fixed schedule whether or not
  earlier ones were answered, so queueing shows up as latency, as it does for users.

Both stop after ``requests`` requests or ``duration_s`` seconds, whichever comes first.
Only loopback targets are accepted unless ``allow_remote``: load is an attack on a
server you do not own.
"""
from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import math
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PERCENTILES = (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
GET_ROUTES = ("/healthz", "/v1/models", "/metrics")
DEFAULT_BODIES: dict[str, list[dict[str, Any]]] = {
    "/sourcegraph/query": [
        {"query": "find Python files with async functions"},
        {"query": "TODO comments in Go test files"},
        {"query": "where do we call fetchUser in the frontend", "candidate_repos": ["github.com/acme/web"]},
        {"query": "rust structs deriving Serialize changed in the last week"},
    ],
    "/qmd/expand": [{"query": "auth config"}, {"query": "react useEffect cleanup"},
                    {"query": "kubernetes pod restarts"}, {"query": "Sarah's presentation on Q4 goals"}],
}
DEFAULT_BODIES["/query"] = DEFAULT_BODIES["/sourcegraph/query"]


class LoadTestError(ValueError):
    """A load test that must not or cannot run as asked."""


@dataclass
class LoadSpec:
    url: str
    route: str = "/sourcegraph/query"
    concurrency: int = 8
    requests: int = 200
    duration_s: float = 30.0
    open_loop_rps: float | None = None
    body: dict[str, Any] | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    allow_remote: bool = False


@dataclass
class Sample:
    start_s: float  # since the test began
    latency_ms: float
    status: int  # 0 = no HTTP answer (connection error, timeout)
    valid: bool | None  # the answer's "valid" field, where it has one


def check_spec(spec: LoadSpec) -> None:
    if spec.concurrency < 1 or spec.requests < 1 or spec.duration_s <= 0:
        raise LoadTestError(f"concurrency={spec.concurrency}, requests={spec.requests}, duration={spec.duration_s}: "
                            "all must be positive (try --concurrency 8 --requests 200 --duration 30)")
    if spec.open_loop_rps is not None and spec.open_loop_rps <= 0:
        raise LoadTestError(f"open_loop_rps={spec.open_loop_rps}: must be > 0 (try --open-loop-rps 10)")
    if spec.route not in GET_ROUTES and spec.body is None and spec.route not in DEFAULT_BODIES:
        raise LoadTestError(f"route {spec.route!r} has no default body: give one with --body '{{...}}'")
    check_target(spec.url, spec.allow_remote)


def check_target(url: str, allow_remote: bool) -> None:
    """Refuse anything but this machine unless the caller says the target is theirs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadTestError(f"{url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000)")
    if allow_remote or _is_loopback(parts.hostname):
        return
    raise LoadTestError(f"{parts.hostname} is not this machine: load tests target loopback only; pass "
                        "--allow-remote if you own that server")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


# --------------------------------------------------------------------------- running
def run(spec: LoadSpec, out: Path | None = None) -> dict[str, Any]:
    """Run the test; write summary.json, samples.jsonl and loadtest.png under ``out``."""
    check_spec(spec)
    began = time.time()
    samples, wall_s = asyncio.run(_drive(spec))
    summary = summarize(samples, spec, wall_s, began)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        (out / "samples.jsonl").write_text("".join(json.dumps(asdict(s)) + "\n" for s in samples))
        plot(samples, summary, out / "loadtest.png")
    return summary


async def _drive(spec: LoadSpec) -> tuple[list[Sample], float]:
    import httpx

    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    limits = httpx.Limits(max_connections=None if spec.open_loop_rps else spec.concurrency)
    async with httpx.AsyncClient(base_url=spec.url.rstrip("/"), headers=headers, timeout=spec.timeout_s,
                                 limits=limits) as client:
        began = time.perf_counter()
        loop = _open_loop if spec.open_loop_rps else _closed_loop
        samples = await loop(client, spec, began)
        return sorted(samples, key=lambda s: s.start_s), time.perf_counter() - began


async def _closed_loop(client, spec: LoadSpec, began: float) -> list[Sample]:
    deadline, counter, samples = began + spec.duration_s, itertools.count(), []

    async def client_loop() -> None:
        while time.perf_counter() < deadline and (i := next(counter)) < spec.requests:
            samples.append(await _one(client, spec, i, began))

    await asyncio.gather(*(client_loop() for _ in range(spec.concurrency)))
    return samples


async def _open_loop(client, spec: LoadSpec, began: float) -> list[Sample]:
    interval, pending = 1.0 / spec.open_loop_rps, []
    for i in range(spec.requests):
        start = began + i * interval
        if start >= began + spec.duration_s:
            break
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        pending.append(asyncio.create_task(_one(client, spec, i, began)))
    return list(await asyncio.gather(*pending))


async def _one(client, spec: LoadSpec, i: int, began: float) -> Sample:
    import httpx

    start = time.perf_counter()
    status, valid = 0, None
    try:
        if spec.route in GET_ROUTES:
            response = await client.get(spec.route)
        else:
            bodies = [spec.body] if spec.body is not None else DEFAULT_BODIES[spec.route]
            response = await client.post(spec.route, json=bodies[i % len(bodies)])
        status = response.status_code
        if status == 200 and response.headers.get("content-type", "").startswith("application/json"):
            answer = response.json()
            valid = answer.get("valid") if isinstance(answer, dict) else None
    except httpx.HTTPError:
        pass
    return Sample(start - began, (time.perf_counter() - start) * 1e3, status, valid)


# --------------------------------------------------------------------------- results
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(samples: list[Sample], spec: LoadSpec, wall_s: float, began: float) -> dict[str, Any]:
    ok = [s for s in samples if s.status == 200]
    latencies = [s.latency_ms for s in ok]
    errors = Counter("connection" if s.status == 0 else str(s.status) for s in samples if s.status != 200)
    judged = [s.valid for s in ok if s.valid is not None]
    latency = {name: _round(percentile(latencies, p)) for name, p in PERCENTILES}
    latency["mean"] = _round(sum(latencies) / len(latencies)) if latencies else None
    return {
        "url": spec.url, "route": spec.route,
        "mode": "open" if spec.open_loop_rps else "closed",
        "concurrency": None if spec.open_loop_rps else spec.concurrency, "open_loop_rps": spec.open_loop_rps,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
        "requests": len(samples), "ok": len(ok), "errors": dict(sorted(errors.items())),
        "duration_s": round(wall_s, 3), "throughput_rps": round(len(ok) / wall_s, 3) if wall_s > 0 else 0.0,
        "latency_ms": latency,
        "valid_rate": round(sum(judged) / len(judged), 4) if judged else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def plot(samples: list[Sample], summary: dict[str, Any], path: Path) -> None:
    """Latency over time (errors in red) beside the latency histogram with p50/p95/p99 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (over_time, histogram) = plt.subplots(1, 2, figsize=(11, 4))
    ok = [s for s in samples if s.status == 200]
    bad = [s for s in samples if s.status != 200]
    over_time.scatter([s.start_s for s in ok], [s.latency_ms for s in ok], s=6, label="200")
    if bad:
        over_time.scatter([s.start_s for s in bad], [s.latency_ms for s in bad], s=10, c="red", label="error")
    over_time.set(xlabel="request start (s)", ylabel="latency (ms)",
                  title=f"{summary['route']} ({summary['mode']} loop)")
    over_time.legend(loc="upper left")
    histogram.hist([s.latency_ms for s in ok] or [0], bins=40)
    for name, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        value = summary["latency_ms"][name]
        if value is not None:
            histogram.axvline(value, color="black", linestyle=style, label=f"{name} {value:.1f} ms")
    histogram.set(xlabel="latency (ms)", ylabel="requests",
                  title=f"{summary['ok']}/{summary['requests']} ok, {summary['throughput_rps']} req/s")
    histogram.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
