"""Benchmark 2: throughput and latency over HTTP, both adapters mixed, concurrency 1 -> 256.

Requests alternate between the sourcegraph and qmd routes of one vLLM replica (two
LoRA adapters on one base). Each level is a closed loop: ``c`` clients, each sending
its next request when the last one is answered. Writes ``throughput.json`` and
``throughput.png`` (latency against throughput). ``--baseline`` then runs the same levels
against vLLM's own OpenAI server on the same weights and engine settings
(``bench/vllm_server.py``) and prints our rate as a share of its rate.

    python -m bench.throughput [--levels 1 2 4 ... 256] [--duration 8] [--out DIR] [--baseline]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.common import log, results_dir, stage_table, table, write
from bench.load import client_pool, closed_loop
from bench.server import serving

GOAL_RPS, GOAL_P95_MS = 1000.0, 250.0
LEVELS = [1, 2, 4, 8, 16, 32, 64, 128, 192, 256]


def _goal_line(draw, goal: float, limit: float, label: str, drawn: list, beyond: list) -> float:
    """Draw a goal within twice the data's reach (and stretch the axis to it); name one far off in the
    title instead, so the data keeps the chart. Returns the axis limit."""
    if goal > 2 * limit:
        beyond.append(label)
        return limit
    draw(goal, color="grey", lw=0.8, ls=":")
    drawn.append(label)
    return max(limit, goal * 1.05)


def plot(levels: list[dict[str, Any]], path: Path | None = None):
    """Latency percentiles against achieved throughput, one point per concurrency level; returns the Figure.

    Both axes start at 0 and span the measurements. A goal within twice the measured range
    is drawn as a dotted line; one further out (1000 req/s beside a best of 20) would squeeze
    every point into the chart's corner, so the title names it instead.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rps = [lvl["throughput_rps"] for lvl in levels]
    latencies = [lvl["latency_ms"][key] for lvl in levels for key in ("p50", "p95", "p99")]
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^--")):
        ax.plot(rps, [lvl["latency_ms"][key] for lvl in levels], style, label=key)
    for lvl in levels:
        ax.annotate(str(lvl["concurrency"]), (lvl["throughput_rps"], lvl["latency_ms"]["p95"]), fontsize=7,
                    textcoords="offset points", xytext=(3, 3))
    x_max, y_max = max(rps) * 1.1, max(latencies) * 1.1
    drawn, beyond = [], []
    x_max = _goal_line(ax.axvline, GOAL_RPS, x_max, f"{GOAL_RPS:.0f} answers/s", drawn, beyond)
    y_max = _goal_line(ax.axhline, GOAL_P95_MS, y_max, f"p95 {GOAL_P95_MS:.0f} ms", drawn, beyond)
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, y_max)
    ax.set_xlabel("answers per second")
    ax.set_ylabel("latency (ms)")
    goal = "; ".join([*([f"{' and '.join(drawn)} dotted"] if drawn else []),
                      *([f"{' and '.join(beyond)} beyond this chart"] if beyond else [])])
    ax.set_title(f"sourcegraph + qmd adapters, one vLLM replica (labels: concurrency)\ngoal: {goal}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=LEVELS, help="concurrency levels")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each level")
    parser.add_argument("--processes", type=int, default=8, help="client processes")
    fixtures.add_serving_arguments(parser)
    parser.add_argument("--unconstrained", action="store_true", help="decode without the tasks' grammars "
                        "(what the grammar costs at load)")
    parser.add_argument("--baseline", action="store_true", help="then vLLM's own OpenAI server on the same "
                        "base, adapters and engine settings, at the same levels (our overhead over it)")
    args = parser.parse_args()
    out, storage = results_dir(args.out), Path(args.storage)
    config = fixtures.unconstrained(args.serve_config) if args.unconstrained else args.serve_config
    name = "throughput-unconstrained" if args.unconstrained else "throughput"

    result: dict[str, Any] = {
        "adapters_made_s": fixtures.ensure_adapters(storage, fixtures.trained_adapters(args.adapter)),
        "goal": {"rps": GOAL_RPS, "p95_ms": GOAL_P95_MS}, "levels": []}
    requests = fixtures.requests(["sourcegraph", "qmd"], 128)
    with client_pool(args.processes) as pool, serving(config, [f"storage_path={storage}"],
                                                      out / f"{name}-serve.log", requests[0]) as server:
        result["levels"] = run_levels(pool, server.url, requests, args, "")
    if args.baseline:
        result["vllm_server"] = baseline_levels(config, storage, args, out / f"{name}-vllm-server.log")
    write(out, name, result)
    plot(result["levels"], out / f"{name}.png")

    rows = [[lvl["concurrency"], lvl["throughput_rps"], lvl["latency_ms"].get("p50", "-"),
             lvl["latency_ms"].get("p95", "-"), lvl["latency_ms"].get("p99", "-"), lvl["errors"],
             lvl["resampled"], lvl["truncated"]] for lvl in result["levels"]]
    rows.append(["goal", GOAL_RPS, "-", GOAL_P95_MS, "-", 0, "-", "-"])
    print(table(f"Closed loop over HTTP, sourcegraph + qmd mixed{' (no grammar)' * args.unconstrained}",
                ["concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "resampled", "truncated"], rows))
    print(stage_table("Where the time went: p50 ms per stage (Server-Timing)",
                      [(f"{lvl['concurrency']} in flight", lvl) for lvl in result["levels"]]))
    if args.baseline:
        print(table("Beside vLLM's own server, same run", ["concurrency", "ours req/s", "vLLM req/s", "ours / vLLM",
                                                           "ours p50 ms", "vLLM p50 ms"],
                    versus(result["levels"], result["vllm_server"])))


def baseline_levels(config: str, storage: Path, args, log_path: Path) -> list[dict[str, Any]]:
    """The same closed-loop levels against vLLM's own server on the deployment's engine settings."""
    from bench.vllm_server import chat_requests, vllm_server
    from querytune.experiments import get_task
    from querytune.platform import adapters, models
    from querytune.serve.config import load_serve_file
    from querytune.serve.vllm_engine import engine_args

    app = load_serve_file(config).app.args
    deployment = app.deployments[0]
    loras = {task: storage / "adapters" / task for task in ("sourcegraph", "qmd")}
    base = models.resolve(adapters.read_manifest(loras["sourcegraph"]).base.model)
    syntax = "lark" if deployment.vllm.structured_outputs_backend == "guidance" else "gbnf"
    constrained = all(a.constrained for a in deployment.adapters)
    grammars = {t: get_task(t).grammar(syntax) for t in loras} if constrained else None
    rows = {t: fixtures.examples(t, 128) for t in loras}
    requests = chat_requests(list(loras), rows, {t: app.routes[t].max_tokens for t in loras}, grammars)
    with client_pool(args.processes) as pool, vllm_server(engine_args(str(base), deployment.vllm, len(loras)), loras,
                                                          log_path, requests[0]) as server:
        return run_levels(pool, server.url, requests, args, "vLLM server, ")


def run_levels(pool, url: str, requests: list, args, label: str) -> list[dict[str, Any]]:
    """A short warm-up at 32 in flight, then each of ``args.levels``, logged as it ends."""
    closed_loop(pool, url, requests, 32, duration_s=3, warmup_s=1, processes=args.processes)
    levels = []
    for level in args.levels:
        levels.append(closed_loop(pool, url, requests, level, args.duration, args.warmup, args.processes))
        log(f"{label}concurrency {level}: {levels[-1]['throughput_rps']:.0f} req/s")
    return levels


def versus(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per level: throughput and p50 of both servers, and our share of vLLM's rate."""
    return [[a["concurrency"], a["throughput_rps"], b["throughput_rps"],
             round(a["throughput_rps"] / b["throughput_rps"], 3) if b["throughput_rps"] else "-",
             a["latency_ms"].get("p50", "-"), b["latency_ms"].get("p50", "-")] for a, b in zip(ours, theirs)]


if __name__ == "__main__":
    main()
