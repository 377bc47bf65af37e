"""Engines on CPU: the transformers engine batches by adapter and counts its own tokens; vLLM's adapter
checks need no GPU."""
from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from querytune.platform import generation
from querytune.serve.catalog import resolve_catalog
from querytune.serve.config import Batching, TransformersSettings, VLLMSettings
from querytune.serve.engines import Delta, EngineError, Generation, Sampling
from querytune.serve.transformers_engine import TransformersEngine
from querytune.serve.vllm_engine import VLLMEngine, _lora_dirs
from tests.serve.conftest import tiny_serve_config

ASK = [{"role": "user", "content": "find Python files with async functions"}]


@pytest.fixture(scope="module")
def served(registry):
    return {entry.name: entry for entry in resolve_catalog(tiny_serve_config(registry)).values()}


@pytest.fixture(scope="module")
def engine(served):
    # 0.2 s: concurrent requests surely meet in one batch
    return TransformersEngine.load(list(served.values()), TransformersSettings(threads=1),
                                   Batching(max_batch_size=8, batch_wait_timeout_s=0.2))


def test_concurrent_requests_share_a_batch_per_adapter_and_answer_in_order(engine, served):
    sg, qmd = served["sg-tiny"], served["qmd-tiny"]

    async def three():
        return await asyncio.gather(engine.generate(ASK, sg, Sampling(8)), engine.generate(ASK, qmd, Sampling(8)),
                                    engine.generate(ASK, sg, Sampling(5)))

    answers = asyncio.run(three())
    assert [a.info["batch_size"] for a in answers] == [2, 1, 2]  # sg rows share one generate call
    assert answers[2].choices[0].text == answers[0].choices[0].text[:len(answers[2].choices[0].text)]
    alone = asyncio.run(engine.generate(ASK, qmd, Sampling(8)))
    assert alone.choices[0].text == answers[1].choices[0].text  # greedy: batching changes nothing
    assert all(a.choices[0].tokens <= 8 and not a.info["constrained"] for a in answers)
    with pytest.raises(EngineError, match="'ghost' is not loaded"):
        asyncio.run(engine.generate(ASK, dataclasses.replace(sg, name="ghost"), Sampling(8)))


def test_token_counts_and_finish_reason_are_the_engines_own(engine, served):
    """The probe: a cut at max_tokens=6 reported 0 completion tokens and finish_reason "stop" (the
    text was re-tokenized after stripping)."""
    qmd = served["qmd-tiny"]
    out = asyncio.run(engine.generate(ASK, qmd, Sampling(max_tokens=6)))
    choice = out.choices[0]
    tokenizer = engine.loaded["qmd-tiny"][1]
    prompt = tokenizer(generation.render(tokenizer, ASK), add_special_tokens=False).input_ids
    assert out.prompt_tokens == len(prompt)
    assert (choice.finish_reason, choice.tokens) == ("length", 6) or (choice.finish_reason == "stop"
                                                                       and choice.tokens < 6)


def test_stream_deltas_add_up_to_the_answer_and_stop_sequences_cut_it(engine, served):
    qmd = served["qmd-tiny"]
    full = asyncio.run(engine.generate(ASK, qmd, Sampling(max_tokens=12))).choices[0].text
    stop = full.strip()[2:4] if len(full.strip()) > 4 else None

    async def streamed(sampling):
        return [item async for item in engine.stream(ASK, qmd, sampling)]

    items = asyncio.run(streamed(Sampling(max_tokens=12)))
    assert isinstance(items[-1], Generation)
    assert "".join(d.text for d in items if isinstance(d, Delta)) == full == items[-1].choices[0].text
    if stop:
        cut = asyncio.run(streamed(Sampling(max_tokens=12, stop=(stop,))))
        text = "".join(d.text for d in cut if isinstance(d, Delta))
        assert text == full[:full.index(stop)] == cut[-1].choices[0].text
        assert cut[-1].choices[0].finish_reason == "stop"


def test_n_seed_and_penalties(engine, served):
    qmd = served["qmd-tiny"]
    seeded = Sampling(max_tokens=8, temperature=1.0, n=3, seed=11)
    first, again = (asyncio.run(engine.generate(ASK, qmd, seeded)) for _ in range(2))
    assert len(first.choices) == 3 and first.choices == again.choices  # same seed, same samples
    assert len({c.text for c in first.choices}) > 1  # random weights at T=1: the samples differ
    plain = asyncio.run(engine.generate(ASK, qmd, Sampling(max_tokens=12)))
    penalised = asyncio.run(engine.generate(ASK, qmd, Sampling(max_tokens=12, frequency_penalty=2.0,
                                                               presence_penalty=2.0)))
    # greedy repeats tokens of a random model; a penalty on repeats changes the answer
    assert penalised.choices[0].text != plain.choices[0].text


def test_a_cancelled_generation_stops_at_the_next_token(engine, served):
    """Cancelling the awaiting task used to leave model.generate running in its thread to max_tokens."""
    qmd = served["qmd-tiny"]

    async def cancel_a_long_answer() -> float:
        long = asyncio.ensure_future(engine.generate(ASK, qmd, Sampling(2048)))  # seconds of work on one thread
        await asyncio.sleep(0.8)
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long
        await asyncio.sleep(0.2)
        assert engine.running == 0
        mark = time.process_time()
        await asyncio.sleep(1)  # a generation still running in a thread would burn this process's CPU here
        return time.process_time() - mark

    assert asyncio.run(cancel_a_long_answer()) < 0.3
    out = asyncio.run(engine.generate(ASK, qmd, Sampling(4)))  # the engine still answers
    assert out.info["engine"] == "transformers" and out.choices[0].tokens <= 4


def test_vllm_refuses_an_adapter_above_its_rank_limit_before_starting(served):
    with pytest.raises(EngineError, match="rank 8 > vllm.max_lora_rank=1"):
        _lora_dirs(list(served.values()), VLLMSettings(max_lora_rank=1).max_lora_rank)
    base_dir, folders = _lora_dirs(list(served.values()), 16)
    assert set(folders) == {"sg-tiny", "qmd-tiny"} and (base_dir / "config.json").is_file()


def test_a_vllm_replica_warms_each_batch_shape_across_its_adapters_as_it_starts(served):
    """vLLM compiles LoRA kernels per batch shape: a burst of each warm-up size, so no client pays for it."""
    class Recording(VLLMEngine):
        async def generate(self, prompt, model, sampling):
            calls.append((model.name, sampling))

    calls: list = []
    engine = Recording(None, None, {}, settings=VLLMSettings(warm_up_batches=[3, 8]))
    asyncio.run(engine.warm_up_shapes(list(served.values())))
    assert len(calls) == 11 and {name for name, _ in calls[:3]} == {"sg-tiny", "qmd-tiny"}
    assert all(sampling.grammar is None for _, sampling in calls)
