"""Prometheus metrics of the application, the same series on both paths.

* requests by route and status (499 = the client left), their latency, and those in flight now,
* task answers (valid or not) and resamples,
* prompt and completion tokens by model, exactly as the engine counted them,
* time to first token (inside the engine: queue plus prefill) by model,
* queue time and engine batch size (rows of one ``model.generate`` call) by LLM deployment.

``--local`` is one process: ``GET /metrics`` shows everything. On Ray each ingress
replica keeps its own registry, so ``GET /metrics`` through the proxy shows one random
replica; the same series therefore also go to Ray's metrics export (``ray.serve.metrics``,
``ray=True``), which every node serves on its metrics export port with ``deployment``,
``replica`` and ``application`` tags: scrape those ports (``ray start
--metrics-export-port``) for the whole application, named with Ray's prefix
(``ray_querytune_requests_total``...). Ray reserves the ``deployment`` tag, so the LLM
deployment is the ``llm`` label.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# name -> (kind, help, labels, buckets); the one table both sinks are built from
SERIES: dict[str, tuple[str, str, tuple[str, ...], tuple | None]] = {
    "querytune_requests": ("counter", "HTTP requests by route and status code", ("route", "status"), None),
    "querytune_requests_in_flight": ("gauge", "HTTP requests being answered now, by route (routes with a path "
                                     "parameter count as 'other')", ("route",), None),
    "querytune_request_latency_seconds": ("histogram", "HTTP request latency by route (to the first byte of a "
                                          "stream)", ("route",), LATENCY_BUCKETS_S),
    "querytune_answers": ("counter", "task answers by route and validity", ("route", "valid"), None),
    "querytune_generation_retries": ("counter", "resamples of answers that did not parse", ("route",), None),
    "querytune_prompt_tokens": ("counter", "prompt tokens read, by model", ("model",), None),
    "querytune_completion_tokens": ("counter", "tokens generated, by model", ("model",), None),
    "querytune_time_to_first_token_seconds": ("histogram", "engine time from a request's arrival to its first "
                                              "token (queue + prefill), by model", ("model",), LATENCY_BUCKETS_S),
    "querytune_queue_seconds": ("histogram", "time a request waited for its batch, by LLM deployment", ("llm",),
                                LATENCY_BUCKETS_S),
    "querytune_engine_batch_size": ("histogram", "rows (sequences) of the generate call a request rode in, by "
                                    "LLM deployment", ("llm",), BATCH_BUCKETS),
}


class Metrics:
    """The application's metrics: its own Prometheus registry (several apps may share a process), and
    with ``ray=True`` Ray Serve's metric export as well."""

    def __init__(self, ray: bool = False) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.local: dict[str, Any] = {}
        self.levels: dict[tuple, float] = {}  # a gauge's current value per label set (Ray's gauges only set)
        for name, (kind, doc, labels, buckets) in SERIES.items():
            if kind == "counter":
                self.local[name] = Counter(name, doc, labels, registry=self.registry)
            elif kind == "gauge":
                self.local[name] = Gauge(name, doc, labels, registry=self.registry)
            else:
                self.local[name] = Histogram(name, doc, labels, buckets=buckets, registry=self.registry)
        self.ray = _ray_series() if ray else {}

    def _record(self, name: str, value: float, **labels: str) -> None:
        """Add ``value`` to a counter or a gauge (a step of -1 included), or observe it in a histogram."""
        kind, series = SERIES[name][0], self.local[name].labels(**labels)
        if kind == "gauge":
            key = (name, *labels.values())
            value = self.levels[key] = self.levels.get(key, 0) + value
            series.set(value)
        elif kind == "counter":
            series.inc(value)
        else:
            series.observe(value)
        if name in self.ray:  # [ray] exported by Ray on each node's metrics port, tagged by replica
            metric = self.ray[name]
            try:
                if kind == "gauge":
                    metric.set(value, tags=labels)
                elif kind == "histogram":
                    metric.observe(value, tags=labels)
                elif value > 0:  # Ray's counters refuse an increment of 0
                    metric.inc(value, tags=labels)
            except Exception:  # noqa: BLE001 - a metric never fails a request
                log.warning("Ray metric %s not recorded", name, exc_info=True)

    def in_flight(self, route: str, step: int) -> None:
        """One more (``step=1``) or one fewer (``-1``) request being answered on ``route``."""
        self._record("querytune_requests_in_flight", step, route=route)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self._record("querytune_requests", 1, route=route, status=str(status))
        self._record("querytune_request_latency_seconds", seconds, route=route)

    def answer(self, route: str, valid: bool, retries: int) -> None:
        self._record("querytune_answers", 1, route=route, valid=str(valid).lower())
        self._record("querytune_generation_retries", retries, route=route)

    def generation(self, model: str, llm: str, prompt_tokens: int, completion_tokens: int, info: dict) -> None:
        """One engine generation: its tokens and, where the engine reports them, its timings and batch."""
        self._record("querytune_prompt_tokens", prompt_tokens, model=model)
        self._record("querytune_completion_tokens", completion_tokens, model=model)
        if info.get("ttft_s") is not None:
            self._record("querytune_time_to_first_token_seconds", info["ttft_s"], model=model)
        if info.get("queue_s") is not None:
            self._record("querytune_queue_seconds", info["queue_s"], llm=llm)
        if info.get("batch_size") is not None:
            self._record("querytune_engine_batch_size", info["batch_size"], llm=llm)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        text = generate_latest(self.registry)
        if self.ray:
            text = (b"# These are this ingress replica's series only. Scrape Ray's metrics export port on each "
                    b"node for the whole application (ray_querytune_*, tagged by replica).\n" + text)
        return text, CONTENT_TYPE_LATEST


def _ray_series() -> dict[str, Any]:
    from ray.serve import metrics  # [ray] aggregated by Prometheus across replicas

    made: dict[str, Any] = {}
    for name, (kind, doc, labels, buckets) in SERIES.items():
        if kind == "counter":
            made[name] = metrics.Counter(name, description=doc, tag_keys=labels)
        elif kind == "gauge":
            made[name] = metrics.Gauge(name, description=doc, tag_keys=labels)
        else:
            made[name] = metrics.Histogram(name, description=doc, boundaries=list(buckets), tag_keys=labels)
    return made
