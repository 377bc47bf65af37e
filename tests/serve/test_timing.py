"""The Server-Timing header: stages add up within a request, stay apart between requests, and read back."""
from __future__ import annotations

import asyncio

from querytune.serve import timing


def test_stages_read_back_as_written_and_a_repeated_stage_adds_up():
    async def request() -> str:
        stages = timing.begin()
        timing.add("call", 0.004)
        timing.add("call", 0.002)  # a resample's second call
        timing.engine({"engine_s": 0.005, "queue_s": 0.001, "ttft_s": None, "batch_size": 4})
        return timing.header({"app": 0.010, **stages})

    text = asyncio.run(request())
    assert text == "app;dur=10.00, call;dur=6.00, engine;dur=5.00, queue;dur=1.00"
    assert timing.parse_header(text) == {"app": 10.0, "call": 6.0, "engine": 5.0, "queue": 1.0}
    assert timing.parse_header('db;desc="x";dur=2.5, cache;desc=hit, db;dur=0.5') == {"db": 3.0}


def test_concurrent_requests_keep_their_own_stages_and_outside_a_request_nothing_is_kept():
    async def request(seconds: float) -> dict:
        stages = timing.begin()
        await asyncio.sleep(0)  # the other request runs in between
        timing.add("call", seconds)
        return stages

    async def both() -> list:
        return await asyncio.gather(request(0.1), request(0.2))

    assert asyncio.run(both()) == [{"call": 0.1}, {"call": 0.2}]
    timing.add("call", 1.0)  # no request here: dropped, not raised
