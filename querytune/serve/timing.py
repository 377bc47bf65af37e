"""Where a request's time went, as a ``Server-Timing`` response header (the W3C header browsers'
dev tools and our load benchmarks read).

Stages, in milliseconds, each measured where it happens:

* ``app``: the request inside our application (guard, route, service), from the ingress's view;
* ``prompt``: the task's messages and the prompt's token count (``request_checks``);
* ``call``: each ``engine.generate`` as the service awaits it: on Ray a deployment-handle round
  trip to the LLM replica, ``--local`` a direct call;
* ``engine``: the engine's own time inside that call, ``queue`` the part it waited for a batch
  and ``ttft`` its time to the first token, as the engine reports them (``Generation.info``);
* ``parse``: the task's parse of the answer.

So, for one request: client latency - ``app`` is the proxy and the network, ``call`` - ``engine``
the handle hop. A stage seen twice (a resample) adds up. A streamed answer's header leaves at its
first byte and carries only what happened before it.
"""
from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from typing import Iterator, Mapping

HEADER = "Server-Timing"
#: engine info key -> stage: the seconds an engine reports about its own work
ENGINE_STAGES = {"engine_s": "engine", "queue_s": "queue", "ttft_s": "ttft"}

_stages: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("querytune_stages", default=None)


def begin() -> dict[str, float]:
    """Start recording this request's stages (the guard calls it; the route's task sees the same dict)."""
    stages: dict[str, float] = {}
    _stages.set(stages)
    return stages


def add(stage: str, seconds: float) -> None:
    """Add ``seconds`` to ``stage`` of the request being answered (outside a request: nothing)."""
    stages = _stages.get()
    if stages is not None:
        stages[stage] = stages.get(stage, 0.0) + seconds


@contextmanager
def timed(stage: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        add(stage, time.perf_counter() - began)


def engine(info: Mapping) -> None:
    """The stages an engine reported about one generation."""
    for key, stage in ENGINE_STAGES.items():
        if isinstance(info.get(key), (int, float)):
            add(stage, info[key])


def header(stages: Mapping[str, float]) -> str:
    """``app;dur=12.5, call;dur=10.1, ...`` (milliseconds, as the header's ``dur`` is)."""
    return ", ".join(f"{stage};dur={seconds * 1e3:.2f}" for stage, seconds in stages.items())


def parse_header(text: str) -> dict[str, float]:
    """A ``Server-Timing`` header back into stage -> milliseconds (what a client reads)."""
    stages: dict[str, float] = {}
    for metric in filter(None, (part.strip() for part in text.split(","))):
        name, *params = (p.strip() for p in metric.split(";"))
        duration = next((p.removeprefix("dur=") for p in params if p.startswith("dur=")), None)
        if duration is not None:
            stages[name] = stages.get(name, 0.0) + float(duration)
    return stages
