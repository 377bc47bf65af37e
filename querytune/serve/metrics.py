"""Prometheus metrics of one app: requests by route and status (499 = the client left), answers."""
from __future__ import annotations

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


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
