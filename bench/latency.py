"""Benchmark 1: one sourcegraph request at a time, end to end over HTTP through Ray Serve.

In the same run, each on the same GPU, base and adapter:
  * the raw engine without Serve (``serve.engine_loader.load_engine``), with and without the grammar;
  * plain transformers ``generate`` with the PEFT adapter unmerged (the original's way), exactly
    ``max_tokens`` new tokens;
  * the memory-bandwidth floor: bytes of weights read per decode step over the measured read
    bandwidth, times the answer's tokens.

    python -m bench.latency [--count 200] [--out DIR] [--storage DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import time
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.common import log, percentiles, results_dir, stage_table, table, write
from bench.load import sequential
from bench.server import serving

GOAL_P50_MS, GOAL_P99_MS = 35.0, 60.0
TASK = "sourcegraph"


def serve_overrides(storage: Path) -> list[str]:
    return [f"storage_path={storage}"]


def route_budget(config: str, storage: Path) -> int:
    from querytune.serve.config import load_serve_file

    return load_serve_file(config, serve_overrides(storage)).app.args.routes[TASK].max_tokens


def conversations(rows: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    """The chat messages the sourcegraph route builds for each row."""
    from querytune.experiments import get_task

    task = get_task(TASK)
    today = dt.date.today().isoformat()
    return [task.messages({"request": r["request"], "candidate_repos": list(r.get("candidate_repos") or []),
                           "date": r.get("date") or today}) for r in rows]


def read_bandwidth_gbps() -> float:
    """Device-memory read rate of a decode-like GEMV over 4 GiB of bf16 (median of 10, CUDA events)."""
    import torch

    matrix = torch.randn(32768, 65536, device="cuda", dtype=torch.bfloat16)
    vector = torch.randn(65536, device="cuda", dtype=torch.bfloat16)
    times = []
    for _ in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        matrix @ vector
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    seconds = sorted(times[3:])[5]
    del matrix
    torch.cuda.empty_cache()
    return 32768 * 65536 * 2 / seconds / 1e9


def transformers_baseline(storage: Path, messages: list, new_tokens: int, count: int) -> dict[str, Any]:
    """PEFT model, unmerged adapter, dynamic cache: ``count`` requests after 2 warm-ups."""
    import torch

    from querytune.platform import adapters, generation

    model, tokenizer, _ = adapters.load(TASK, str(storage), dtype="bfloat16", device="cuda", merge=False)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    latencies, prompt_tokens = [], []
    for i in range(count + 2):
        ids = tokenizer(generation.render(tokenizer, messages[i % len(messages)]), return_tensors="pt",
                        add_special_tokens=False).to("cuda")
        torch.cuda.synchronize()
        began = time.perf_counter()
        out = model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        torch.cuda.synchronize()
        if i >= 2:
            latencies.append((time.perf_counter() - began) * 1e3)
            prompt_tokens.append(ids.input_ids.shape[1])
        assert out.shape[1] - ids.input_ids.shape[1] == new_tokens
    del model
    gc.collect()  # PEFT wrappers hold reference cycles; vLLM sizes itself from the memory left free
    torch.cuda.empty_cache()
    return {"latency_ms": percentiles(latencies), "prompt_tokens": percentiles(prompt_tokens),
            "completion_tokens": new_tokens, "weight_bytes": weight_bytes}


async def raw_engine(config: str, storage: Path, messages: list, count: int) -> dict[str, Any]:
    """The deployment's engine in this process: no Ray, no HTTP."""
    from querytune.experiments import get_task
    from querytune.serve.catalog import resolve_catalog
    from querytune.serve.config import load_serve_file
    from querytune.serve.engine_loader import load_engine
    from querytune.serve.engines import Sampling

    cfg = load_serve_file(config, serve_overrides(storage)).app.args
    catalog = resolve_catalog(cfg)
    deployment = cfg.deployments[0]
    began = time.perf_counter()
    engine = await load_engine(deployment, [e for e in catalog.values() if e.deployment == deployment.name])
    result: dict[str, Any] = {"load_s": time.perf_counter() - began}
    budget = cfg.routes[TASK].max_tokens
    model = catalog[cfg.routes[TASK].model]
    for label, grammar in (("constrained", get_task(TASK).grammar()), ("unconstrained", None)):
        sampling = Sampling(max_tokens=budget, grammar=grammar)
        for conversation in messages[:5]:
            await engine.generate(conversation, model, sampling)
        latencies, tokens, prompt_tokens = [], [], []
        for i in range(count):
            began = time.perf_counter()
            out = await engine.generate(messages[i % len(messages)], model, sampling)
            latencies.append((time.perf_counter() - began) * 1e3)
            tokens.append(out.completion_tokens)
            prompt_tokens.append(out.prompt_tokens)
        result[label] = {"latency_ms": percentiles(latencies), "completion_tokens": percentiles(tokens),
                         "prompt_tokens": percentiles(prompt_tokens)}
    result["unconstrained_base"] = await base_model_latency(engine, messages, budget, count)
    engine.shutdown()
    return result


async def base_model_latency(engine, messages: list, budget: int, count: int) -> dict[str, Any]:
    """The same engine without any LoRA on the request: what the adapter's kernels cost."""
    import uuid

    from vllm.sampling_params import RequestOutputKind, SamplingParams

    from querytune.platform import generation

    params = SamplingParams(temperature=0, max_tokens=budget, min_tokens=budget,
                            output_kind=RequestOutputKind.FINAL_ONLY)
    latencies = []
    for i in range(count + 5):
        ids = engine.tokenizer(generation.render(engine.tokenizer, messages[i % len(messages)]),
                               add_special_tokens=False).input_ids
        began = time.perf_counter()
        async for _ in engine.llm.generate({"prompt_token_ids": ids}, params, uuid.uuid4().hex):
            pass
        if i >= 5:
            latencies.append((time.perf_counter() - began) * 1e3)
    return {"latency_ms": percentiles(latencies), "completion_tokens": budget}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="requests per measured setting")
    parser.add_argument("--baseline-count", type=int, default=10, help="requests of the transformers baseline")
    fixtures.add_serving_arguments(parser)
    args = parser.parse_args()
    out, storage = results_dir(args.out), Path(args.storage)

    adapters_s = fixtures.ensure_adapters(storage, fixtures.trained_adapters(args.adapter))
    rows = fixtures.examples(TASK, 64)
    messages = conversations(rows)
    budget = route_budget(args.serve_config, storage)
    result: dict[str, Any] = {"adapters_made_s": adapters_s, "max_tokens": budget,
                              "goal_ms": {"p50": GOAL_P50_MS, "p99": GOAL_P99_MS}}
    log("adapters ready")
    result["bandwidth_gbps"] = read_bandwidth_gbps()
    log("transformers baseline")
    result["transformers"] = transformers_baseline(storage, messages, budget, args.baseline_count)
    floor_ms = result["transformers"]["weight_bytes"] / (result["bandwidth_gbps"] * 1e9) * 1e3
    result["floor_ms_per_token"] = floor_ms
    write(out, "latency", result)  # after each phase: a later failure keeps what was measured
    log("raw engine")
    result["engine"] = asyncio.run(raw_engine(args.serve_config, storage, messages, args.count))
    write(out, "latency", result)
    log("over HTTP")
    requests = [(fixtures.ROUTES[TASK], fixtures.body(TASK, r)) for r in rows]
    with serving(args.serve_config, serve_overrides(storage), out / "latency-serve.log", requests[0]) as server:
        sequential(server.url, requests, 10)
        result["http"] = sequential(server.url, requests, args.count)
    write(out, "latency", result)

    def row(name: str, part: dict, tokens: Any) -> list:
        lat = part["latency_ms"]
        return [name, lat["p50"], lat["p99"], tokens]

    engine = result["engine"]
    base = json.loads((storage / "adapters" / TASK / "querytune.json").read_text())["base"]["model"]
    title = f"One request at a time, {TASK} adapter on {base}, at most {budget} answer tokens (ms)"
    print(table(title, ["path", "p50", "p99", "answer tokens (p50)"], [
        row("HTTP -> Ray Serve -> vLLM (grammar)", result["http"], "-"),
        row("raw engine, grammar", engine["constrained"], engine["constrained"]["completion_tokens"]["p50"]),
        row("raw engine, no grammar", engine["unconstrained"], engine["unconstrained"]["completion_tokens"]["p50"]),
        row("raw engine, no grammar, no LoRA (base)", engine["unconstrained_base"], budget),
        row("transformers generate, PEFT unmerged", result["transformers"], budget),
        ["bandwidth floor (weights / read rate x tokens)", floor_ms * budget, "-", budget],
        ["goal", GOAL_P50_MS, GOAL_P99_MS, "~24"],
    ]))
    print(stage_table("Where the time of one HTTP request went: p50 ms per stage (Server-Timing)",
                      [("1 in flight", result["http"])]))


if __name__ == "__main__":
    main()
