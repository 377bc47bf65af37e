"""Engines on CPU: the transformers engine batches by adapter; vLLM's adapter checks need no GPU."""
from __future__ import annotations

import asyncio
import time

import pytest

from querytune.serve.catalog import resolve_catalog
from querytune.serve.config import TransformersSettings, VLLMSettings
from querytune.serve.engines import EngineError, GenRequest, TransformersEngine, _lora_dirs
from tests.serve.conftest import tiny_serve_config

ASK = [{"role": "user", "content": "find Python files with async functions"}]


@pytest.fixture(scope="module")
def served(registry):
    return list(resolve_catalog(tiny_serve_config(registry)).values())


def test_a_mixed_batch_is_answered_in_order_one_generate_call_per_adapter(served):
    engine = TransformersEngine.load(served, TransformersSettings(threads=1))
    requests = [GenRequest(ASK, "sg-tiny", 8), GenRequest(ASK, "qmd-tiny", 8), GenRequest(ASK, "sg-tiny", 8)]
    answers = asyncio.run(engine.generate_batch(requests))
    assert [info["batch_size"] for _, info in answers] == [2, 1, 2]
    assert answers[0][0] == answers[2][0]  # same adapter, same prompt, greedy: same answer
    alone, _ = asyncio.run(engine.generate(ASK, "qmd-tiny", 8))
    assert alone == answers[1][0]
    assert all(info["completion_tokens"] <= 8 and not info["constrained"] for _, info in answers)
    with pytest.raises(EngineError, match="'ghost' is not loaded"):
        asyncio.run(engine.generate(ASK, "ghost", 8))


def test_a_cancelled_generation_stops_at_the_next_token(served):
    """Cancelling the awaiting task used to leave model.generate running in its thread to max_tokens."""
    engine = TransformersEngine.load(served, TransformersSettings(threads=1))

    async def cancel_a_long_answer() -> float:
        long = asyncio.ensure_future(engine.generate(ASK, "qmd-tiny", 2048))  # seconds of work on one thread
        await asyncio.sleep(0.5)
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long
        assert not engine._lock.locked()
        mark = time.process_time()
        await asyncio.sleep(1)  # a generation still running in a thread would burn this process's CPU here
        return time.process_time() - mark

    assert asyncio.run(cancel_a_long_answer()) < 0.3
    _, info = asyncio.run(engine.generate(ASK, "qmd-tiny", 4))  # the engine still answers
    assert info["engine"] == "transformers" and info["completion_tokens"] <= 4


def test_vllm_refuses_an_adapter_above_its_rank_limit_before_starting(served):
    with pytest.raises(EngineError, match="rank 8 > vllm.max_lora_rank=1"):
        _lora_dirs(served, VLLMSettings(max_lora_rank=1).max_lora_rank)
    base_dir, folders = _lora_dirs(served, 16)
    assert set(folders) == {"sg-tiny", "qmd-tiny"} and (base_dir / "config.json").is_file()
