"""Evaluate a model on a task through any backend; score completions made elsewhere; compare runs.

    querytune eval --task qmd --model default --data dev --limit 8
    querytune score --task qmd completions.jsonl
    querytune compare runs/eval/a runs/eval/b

A run folder holds ``examples.jsonl`` (per example: input, messages, output, parse result,
every metric, latency), ``summary.json`` (means with bootstrap 95% CIs, the scorer version,
latency of the first request apart from steady state, cost) and ``report.html``.
Means skip NaN, so a metric that does not apply to an example does not drag the mean. A row
that cannot be scored (its gold does not parse: ``GoldError``, or the scorer raised) is not
dropped: it scores 0, carries its ``error``, and the summary counts it in ``n_errors``.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from querytune.platform.report import Report, ci_bars_figure, histogram_figure

EXAMPLES_FILE = "examples.jsonl"
SUMMARY_FILE = "summary.json"
DEFAULT_MAX_NEW_TOKENS = 256
DEFAULT_GPU_PRICE = 2.5  # $ per device-hour; an on-demand single-GPU cloud price
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
WORST_SHOWN = 10
SHOWN_CHARS = 300  # longest input/output shown in a report cell


class EvalError(ValueError):
    """An eval that cannot run as asked; the message names the option and the fix."""


class EvalSpec(BaseModel):
    """What `querytune eval` was asked; saved in the summary so a run explains itself."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="task name or module:Class path")
    model: str = Field("default", description="base model name (querytune models) or folder")
    adapter: str | None = Field(None, description="registry adapter name or folder (its chain is rebuilt)")
    data: str = Field("dev", description="dev | val | test | a JSONL/Parquet file of examples")
    backend: str = Field("hf", description="hf | vllm | http | openai")
    url: str | None = Field(None, description="server URL for http/openai")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the openai API key")
    limit: int | None = Field(None, ge=1, description="evaluate only the first N examples")
    concurrency: int = Field(4, ge=1, description="requests in flight for http/openai")
    grammar: bool = Field(False, description="constrain decoding with the task's grammar (vllm)")
    max_new_tokens: int = Field(DEFAULT_MAX_NEW_TOKENS, ge=1, description="generation budget per answer")
    best_of: int = Field(1, ge=1, description="sample N answers per example and keep the task's gold-free "
                         "choice (Task.choose); 1 = greedy (hf, vllm)")
    temperature: float = Field(0.8, gt=0, description="sampling temperature when best_of > 1")
    baseline: str | None = Field(None, description="run folder to compare with, example by example")
    out: str | None = Field(None, description="run folder (default runs/eval/<task>-<model>-<time>)")
    storage: str = Field("runs", description="storage root of runs and the adapter registry")
    gpu_price: float = Field(DEFAULT_GPU_PRICE, gt=0, description="$ per device-hour for the cost lines")
    seed: int = Field(0, description="bootstrap seed")


@dataclass
class Timing:
    """Latency of the warm-up request, and the steady-state run that followed it."""

    first_request_s: float
    wall_s: float
    latencies: list[float] = field(default_factory=list)


def run_eval(spec: EvalSpec) -> Path:
    """examples -> backend (warm-up, then all) -> score -> summary -> report; returns the run folder."""
    from querytune.experiments import get_task
    from querytune.platform.backends import make_backend

    task = get_task(spec.task)
    examples = load_examples(task, spec.data, spec.limit)
    conversations = [task.messages(ex) for ex in examples]
    baseline = read_run(resolve_run(spec.baseline, spec.storage)) if spec.baseline else None  # fail before generating
    if spec.adapter and spec.backend in ("hf", "vllm"):  # the summary names the model that really runs
        spec = spec.model_copy(update={"model": adapter_base(task, spec.adapter, spec.storage)})
    backend = make_backend(spec.backend, model=spec.model, adapter=spec.adapter, storage=spec.storage,
                           url=spec.url, api_key_env=spec.api_key_env, concurrency=spec.concurrency,
                           grammar=task.grammar() if spec.grammar else None)
    picks = None
    try:
        if spec.best_of > 1:
            texts, timing, picks = best_of_all(task, backend, examples, conversations, spec)
        else:
            texts, timing = complete_all(backend, conversations, spec.max_new_tokens, spec.concurrency)
    finally:
        backend.close()
    rows = [judge(task, i, ex, msgs, text, latency) for i, (ex, msgs, text, latency)
            in enumerate(zip(examples, conversations, texts, timing.latencies))]
    for row, pick in zip(rows, picks or ()):
        add_pick(task, row, pick)
    summary = summarize(task, rows, spec.seed)
    summary["latency"] = latency_summary(timing)
    summary["cost"] = cost_summary(timing.wall_s, len(rows), spec.gpu_price, training_seconds(spec))
    summary["spec"] = spec.model_dump()
    out = Path(spec.out or default_folder(spec.storage, task.name, spec.adapter or spec.model))
    write_run(out, rows, summary, baseline)
    return out


def adapter_base(task, adapter: str, storage: str) -> str:
    """The base model a local adapter rides on; an adapter trained for another task is refused."""
    from querytune.experiments import get_task
    from querytune.platform import adapters

    manifest = adapters.read_manifest(adapters.resolve(adapter, storage))
    trained_for = get_task(manifest.task).name
    if trained_for != task.name:
        raise EvalError(f"--adapter {adapter}: trained for task {trained_for!r}, not {task.name!r}: pass "
                        f"--task {manifest.task}, or an adapter trained for {task.name!r}")
    return manifest.base.model


def run_score(task_name: str, file: str | Path, out: str | Path | None = None, storage: str = "runs",
              seed: int = 0) -> Path:
    """Score completions produced elsewhere: rows of example fields plus ``completion``
    (and optionally ``latency_s``), with the same metrics, summary and report as an eval."""
    from querytune.experiments import get_task
    from querytune.platform.data import read_rows

    task = get_task(task_name)
    rows = []
    for i, raw in enumerate(read_rows(file)):
        if not isinstance(raw.get("completion"), str):
            raise EvalError(f"{file}: row {i + 1}: needs a string 'completion' field next to the example fields")
        example = {k: v for k, v in raw.items() if k not in ("completion", "latency_s")}
        rows.append(judge(task, i, example, prompt_of(task, example, f"{file}: row {i + 1}"), raw["completion"],
                          number(raw.get("latency_s"))))
    summary = summarize(task, rows, seed)
    summary["spec"] = {"task": task_name, "scored_file": str(file)}
    out = Path(out or default_folder(storage, task.name, f"{Path(file).stem}-scored"))
    write_run(out, rows, summary, None)
    return out


# ---- examples and generation ------------------------------------------------------------

def load_examples(task, data: str, limit: int | None = None) -> list[dict]:
    """``dev`` = the task's hand-written set; ``val``/``test`` = built splits; else a file."""
    if data == "dev":
        examples = list(task.dev())
    elif data in ("val", "test", "train"):
        from querytune.platform import data as data_mod
        from querytune.platform.config import DataConfig

        splits = data_mod.build(task, DataConfig())
        if data not in splits:
            raise EvalError(f"--data {data}: task {task.name} builds splits {sorted(splits)}; pick one of those")
        examples = splits[data].to_list()
    else:
        from querytune.platform.data import read_rows

        examples = read_rows(data)
        for i, example in enumerate(examples):
            prompt_of(task, example, f"{data}: row {i + 1}")
    if not examples:
        raise EvalError(f"--data {data}: no examples for task {task.name}")
    return examples[:limit] if limit else examples


def prompt_of(task, example: dict, where: str) -> list[dict]:
    try:
        return task.messages(example)
    except (KeyError, TypeError, ValueError) as err:
        raise EvalError(f"{where}: not a {task.name} example ({type(err).__name__}: {err})") from None


def complete_all(backend, conversations: Sequence[list], max_new_tokens: int,
                 concurrency: int = 1) -> tuple[list[str], Timing]:
    """Answers for every conversation, after one warm-up request that is timed on its own
    (model load, compilation, connection set-up) and kept out of steady-state latency."""
    from rich.progress import Progress

    first = backend.complete(conversations[:1], max_new_tokens)[0].latency_s
    chunk = max(16, 4 * concurrency)
    completions = []
    began = time.perf_counter()
    with Progress() as progress:
        bar = progress.add_task(f"{backend.name}", total=len(conversations))
        for start in range(0, len(conversations), chunk):
            completions += backend.complete(conversations[start:start + chunk], max_new_tokens)
            progress.update(bar, advance=len(conversations[start:start + chunk]))
    wall = time.perf_counter() - began
    if len(completions) != len(conversations):
        raise EvalError(f"backend {backend.name} returned {len(completions)} answers for {len(conversations)} "
                        "conversations")
    return [c.text for c in completions], Timing(first, wall, [c.latency_s for c in completions])


def best_of_all(task, backend, examples: list[dict], conversations: Sequence[list],
                spec: EvalSpec) -> tuple[list[str], Timing, list[dict]]:
    """``spec.best_of`` sampled answers per example; the answer is the one ``task.choose``
    picks (no gold). Returns the answers, timing, and per example the candidates and pick."""
    if not callable(getattr(task, "choose", None)):
        raise EvalError(f"--best-of {spec.best_of}: task {task.name} has no choose(example, completions) to pick "
                        "an answer without gold; use --best-of 1")
    if not callable(getattr(backend, "sample", None)):
        raise EvalError(f"--best-of {spec.best_of}: backend {backend.name} cannot sample several answers; "
                        "use --backend hf or --backend vllm")
    first = backend.sample(conversations[:1], spec.max_new_tokens, spec.best_of, spec.temperature,
                           seed=spec.seed)[0][0].latency_s
    groups = []
    began = time.perf_counter()
    for start in range(0, len(conversations), 16):
        groups += backend.sample(conversations[start:start + 16], spec.max_new_tokens, spec.best_of,
                                 spec.temperature, seed=spec.seed + start)
    wall = time.perf_counter() - began
    picks = []
    for example, group in zip(examples, groups):
        candidates = [completion.text for completion in group]
        picks.append({"chosen": int(task.choose(example, candidates)), "candidates": candidates})
    answers = [pick["candidates"][pick["chosen"]] for pick in picks]
    return answers, Timing(first, wall, [group[0].latency_s for group in groups]), picks


def add_pick(task, row: dict, pick: dict) -> None:
    """The row keeps its candidates; ``sample_score`` is their mean score (one sample's expected score)."""
    scores = [float(task.score(row["example"], text).get("score", math.nan)) for text in pick["candidates"]]
    row["best_of"] = {**pick, "scores": scores}
    row["metrics"]["sample_score"] = nanmean(scores)


# ---- scoring ---------------------------------------------------------------------------------

def judge(task, index: int, example: dict, messages: list, output: str, latency_s: float) -> dict:
    """One result row: the strict parse (with its failure reason) and every metric."""
    from querytune.experiments.base import ParseError

    try:
        task.parse(output)
        parse = {"ok": True}
    except ParseError as err:
        parse = {"ok": False, "reason": err.reason, "message": str(err), "position": err.position}
    error = None
    try:
        metrics = {k: float(v) for k, v in task.score(example, output).items()}
    except Exception as err:  # a GoldError, or a scorer crash on one odd output: the row fails, it is not dropped
        metrics, error = {"score": 0.0}, f"{type(err).__name__}: {err}"
    return {"index": index, "example": example, "messages": messages, "output": output, "parse": parse,
            "metrics": metrics, "error": error, "latency_s": latency_s}


def bootstrap_ci(values: Sequence[float], *, confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, NaN skipped; deterministic for a seed.

    >>> bootstrap_ci([0.5, 0.5, 0.5])
    (0.5, 0.5)
    """
    import numpy as np

    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.concatenate([data[rng.integers(0, data.size, (min(250, resamples - done), data.size))].mean(axis=1)
                            for done in range(0, resamples, 250)])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def metric_names(task_metrics: dict[str, bool], rows: list[dict]) -> list[str]:
    """The task's declared metrics first (``score`` leading), then any extra keys rows carry."""
    names = sorted(task_metrics, key=lambda k: k != "score")
    return names + sorted({k for r in rows for k in r["metrics"]} - set(names))


def number(value: float | None) -> float:
    """NaN for a value a file stores as null (JSON has no NaN)."""
    return math.nan if value is None else float(value)


def metric_values(rows: list[dict], name: str) -> list[float]:
    return [number(r["metrics"].get(name)) for r in rows]


def summarize(task, rows: list[dict], seed: int = 0) -> dict[str, Any]:
    """Per-metric mean, bootstrap CI, count and direction; parse success and failure reasons."""
    metrics = {}
    for name in metric_names(task.metrics, rows):
        values = metric_values(rows, name)
        low, high = bootstrap_ci(values, seed=seed)
        metrics[name] = {"mean": nanmean(values), "ci_low": low, "ci_high": high,
                         "n": sum(not math.isnan(v) for v in values),
                         "higher_is_better": task.metrics.get(name, True)}
    ok = [float(r["parse"]["ok"]) for r in rows]
    failures = Counter(r["parse"]["reason"] for r in rows if not r["parse"]["ok"])
    n_errors = sum(r.get("error") is not None for r in rows)
    return {"task": task.name, "scorer_version": getattr(task, "SCORER_VERSION", None), "count": len(rows),
            "n_errors": n_errors,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "metrics": metrics,
            "parse": {"ok": nanmean(ok), "ci": list(bootstrap_ci(ok, seed=seed)), "failures": dict(failures)}}


def latency_summary(timing: Timing) -> dict[str, float]:
    import numpy as np

    steady = np.asarray(timing.latencies, dtype=float)
    p50, p95, p99 = np.percentile(steady, [50, 95, 99]) if steady.size else (math.nan,) * 3
    return {"first_request_s": timing.first_request_s, "p50_s": float(p50), "p95_s": float(p95),
            "p99_s": float(p99), "mean_s": float(steady.mean()) if steady.size else math.nan,
            "wall_s": timing.wall_s, "queries_per_s": len(steady) / timing.wall_s if timing.wall_s else math.nan}


def cost_summary(wall_s: float, count: int, price_per_hour: float, train_s: float | None) -> dict[str, float]:
    """Device-seconds per query at the measured throughput, priced per million queries."""
    per_query = wall_s / count
    cost = {"price_per_hour": price_per_hour, "device_seconds_per_query": per_query,
            "usd_per_million_queries": per_query * 1e6 / 3600 * price_per_hour}
    if train_s is not None:
        cost.update(training_s=train_s, training_usd=train_s / 3600 * price_per_hour)
    return cost


def training_seconds(spec: EvalSpec) -> float | None:
    """The adapter's recorded training time (its manifest), if it has one."""
    if not spec.adapter:
        return None
    from querytune.platform import adapters

    metrics = adapters.read_manifest(adapters.resolve(spec.adapter, spec.storage)).metrics
    value = metrics.get("train_runtime_s")
    return float(value) if isinstance(value, (int, float)) else None


# ---- runs on disk ------------------------------------------------------------------------------

def default_folder(storage: str, task: str, what: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return new_folder(Path(storage) / "eval", re.sub(r"[^A-Za-z0-9._-]+", "_", f"{task}-{Path(what).name}-{stamp}"))


def new_folder(parent: Path, stem: str) -> Path:
    """A folder no other run has: ``stem``, else ``stem-2``, ... (mkdir is atomic, so two runs
    started in the same second, even in two processes, never share one)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        folder = parent / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def resolve_run(name: str, storage: str = "runs") -> Path:
    """A run folder given as a path, or by its name under ``<storage>/eval``."""
    for folder in (Path(name), Path(storage) / "eval" / name):
        if (folder / SUMMARY_FILE).is_file():
            return folder
    raise EvalError(f"run {name!r}: no {SUMMARY_FILE} there nor under {Path(storage) / 'eval'}; "
                    "give the folder an eval wrote")


def json_safe(value: Any) -> Any:
    """NaN becomes null, so the files are standard JSON that any tool reads."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def read_run(folder: Path) -> tuple[str, list[dict], dict]:
    rows = [json.loads(line) for line in (folder / EXAMPLES_FILE).read_text(encoding="utf-8").splitlines() if line]
    return folder.name, rows, json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))


def write_run(out: Path, rows: list[dict], summary: dict, baseline: tuple[str, list[dict], dict] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / EXAMPLES_FILE, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(json_safe(row), ensure_ascii=False, default=str) + "\n")
    comparison = None
    if baseline:
        comparison = paired_differences(rows, baseline[1], summary["metrics"], seed=summary.get("spec", {})
                                        .get("seed", 0))
        summary["baseline"] = {"run": baseline[0], "differences": comparison}
    (out / SUMMARY_FILE).write_text(json.dumps(json_safe(summary), indent=2, default=str), encoding="utf-8")
    eval_report(out.name, summary, rows, baseline[0] if baseline else None, comparison).write(out)


# ---- paired comparison ---------------------------------------------------------------------------

def pair_key(example: dict) -> str:
    return json.dumps(example, sort_keys=True, default=str, ensure_ascii=False)


def paired_rows(rows_a: list[dict], rows_b: list[dict]) -> list[tuple[dict, dict]]:
    """Rows of two runs matched by input (the n-th occurrence of an input with the n-th)."""
    def keyed(rows):
        seen: Counter = Counter()
        out = {}
        for row in rows:
            key = pair_key(row["example"])
            out[(key, seen[key])] = row
            seen[key] += 1
        return out

    a, b = keyed(rows_a), keyed(rows_b)
    return [(a[k], b[k]) for k in a if k in b]


def paired_differences(rows: list[dict], base_rows: list[dict], metrics: dict[str, dict],
                       seed: int = 0) -> dict[str, dict]:
    """Per metric: mean of (this - baseline) over matched examples, its bootstrap CI, and
    wins/losses counted in the metric's own direction."""
    pairs = paired_rows(rows, base_rows)
    result = {}
    for name, info in metrics.items():
        diffs = [number(a["metrics"].get(name)) - number(b["metrics"].get(name)) for a, b in pairs]
        sign = 1 if info.get("higher_is_better", True) else -1
        low, high = bootstrap_ci(diffs, seed=seed)
        kept = [d for d in diffs if not math.isnan(d)]
        result[name] = {"mean_diff": nanmean(diffs), "ci_low": low, "ci_high": high, "n": len(kept),
                        "wins": sum(sign * d > 0 for d in kept), "losses": sum(sign * d < 0 for d in kept),
                        "higher_is_better": info.get("higher_is_better", True)}
    return result


def verdict(diff: dict) -> str:
    """better / worse only when the whole CI of the difference is on one side of zero."""
    sign = 1 if diff["higher_is_better"] else -1
    low, high = sorted((sign * diff["ci_low"], sign * diff["ci_high"]))
    return "better" if low > 0 else "worse" if high < 0 else "no clear difference"


def compare_runs(runs: Sequence[str], out: str | Path | None = None, storage: str = "runs",
                 seed: int = 0) -> tuple[list[tuple[str, list[dict], dict]], dict[str, dict], Path]:
    """Read runs, diff each against the first example by example, write a report.

    Returns the runs, {run name: paired differences vs the first}, and the report folder.
    """
    if len(runs) < 2:
        raise EvalError(f"compare: got {len(runs)} run(s); give at least two run folders")
    loaded = [read_run(resolve_run(r, storage)) for r in runs]
    reference = loaded[0]
    diffs = {name: paired_differences(rows, reference[1], reference[2]["metrics"], seed)
             for name, rows, _ in loaded[1:]}
    folder = Path(out) if out else new_folder(Path(storage) / "compare", datetime.now().strftime("%Y%m%d-%H%M%S"))
    compare_report(loaded, diffs).write(folder)
    (folder / "comparison.json").write_text(json.dumps(json_safe(
        {"runs": [name for name, _, _ in loaded], "reference": reference[0], "differences": diffs}),
        indent=2, default=str), encoding="utf-8")
    return loaded, diffs, folder


# ---- reports ---------------------------------------------------------------------------------------

def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def ci_text(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def rate_like(info: dict) -> bool:
    """Metrics on a 0..1 scale share one plot; others (percentages, counts) stay in the table."""
    return -1e-9 <= info["ci_low"] and info["ci_high"] <= 1 + 1e-9


def eval_report(name: str, summary: dict, rows: list[dict], baseline: str | None,
                comparison: dict[str, dict] | None) -> Report:
    report = Report(f"{summary['task']} eval — {name}")
    spec = summary.get("spec", {})
    shown = ("task", "model", "adapter", "data", "backend", "url", "limit", "max_new_tokens", "scored_file")
    version = "-" if summary["scorer_version"] is None else summary["scorer_version"]
    report.text(f"{summary['count']} examples; scorer version {version}; created "
                f"{summary['created']}; " + ", ".join(f"{k}={spec[k]}" for k in shown if spec.get(k) is not None),
                muted=True)
    add_metric_section(report, summary["metrics"])
    if comparison:
        add_comparison_section(report, f"Against baseline {baseline} (paired, this − baseline)", comparison,
                               "baseline_diff")
    add_failure_section(report, summary, rows)
    if "latency" in summary:
        add_latency_section(report, summary, rows)
    return report


def add_metric_section(report: Report, metrics: dict[str, dict]) -> None:
    report.heading("Metrics (mean, bootstrap 95% CI)")
    report.table(["metric", "better", "mean", "95% CI", "n"],
                 [(k, arrow(v["higher_is_better"]), v["mean"], ci_text(v["ci_low"], v["ci_high"]), v["n"])
                  for k, v in metrics.items()])
    shown = {k: v for k, v in metrics.items() if v["n"] and rate_like(v)}
    if shown:
        report.figure("metrics", ci_bars_figure(list(shown), {"mean": [
            (v["mean"], v["ci_low"], v["ci_high"]) for v in shown.values()]}, xlabel="mean (0..1)", xlim=(0, 1)),
            "Means of the 0..1 metrics with bootstrap 95% intervals.")


def add_comparison_section(report: Report, title: str, comparison: dict[str, dict], figure: str) -> None:
    report.heading(title)
    report.table(["metric", "better", "mean diff", "95% CI", "wins", "losses", "pairs", "verdict"],
                 [(k, arrow(d["higher_is_better"]), d["mean_diff"], ci_text(d["ci_low"], d["ci_high"]),
                   d["wins"], d["losses"], d["n"], verdict(d)) for k, d in comparison.items()])
    shown = {k: d for k, d in comparison.items() if d["n"]}
    if shown:
        report.figure(figure, ci_bars_figure(list(shown), {"difference": [
            (d["mean_diff"], d["ci_low"], d["ci_high"]) for d in shown.values()]}, xlabel="paired difference",
            zero_line=True), "Mean paired difference per metric with its bootstrap 95% interval.")


def add_failure_section(report: Report, summary: dict, rows: list[dict]) -> None:
    parse = summary["parse"]
    report.heading("Parse failures and worst examples")
    report.text(f"strict parse succeeded on {parse['ok']:.1%} of examples "
                f"(95% CI {ci_text(*parse['ci'])}).")
    if parse["failures"]:
        report.table(["reason", "count"], sorted(parse["failures"].items(), key=lambda kv: -kv[1]))
    if summary.get("n_errors"):
        report.text(f"{summary['n_errors']} of {summary['count']} examples could not be scored (gold answer "
                    "does not parse, or the scorer raised): each counts as score 0; its error is in examples.jsonl.")
    headline = "score" if "score" in summary["metrics"] else next(iter(summary["metrics"]), None)
    if headline is None:
        return
    order = sorted(rows, key=lambda r: sort_value(number(r["metrics"].get(headline))))
    report.table(["#", headline, "input", "output", "failure"],
                 [(r["index"], number(r["metrics"].get(headline)), shorten(pair_key(r["example"])),
                   shorten(r["output"]), r.get("error") or r["parse"].get("message") or "")
                  for r in order[:WORST_SHOWN]])


def sort_value(value: float) -> float:
    """NaN (unscored) sorts first among the worst."""
    return -math.inf if math.isnan(value) else value


def add_latency_section(report: Report, summary: dict, rows: list[dict]) -> None:
    latency, cost = summary["latency"], summary["cost"]
    report.heading("Latency and cost")
    report.table(["first request (s)", "p50 (s)", "p95 (s)", "p99 (s)", "queries/s", "wall (s)"],
                 [(latency["first_request_s"], latency["p50_s"], latency["p95_s"], latency["p99_s"],
                   latency["queries_per_s"], latency["wall_s"])])
    lines = [f"{cost['device_seconds_per_query']:.4g} device-seconds per query at the measured throughput: "
             f"${cost['usd_per_million_queries']:,.2f} per 1M queries at ${cost['price_per_hour']}/h."]
    if "training_usd" in cost:
        lines.append(f"Training took {cost['training_s']:.0f} s: ${cost['training_usd']:.2f} at the same price.")
    for line in lines:
        report.text(line)
    values = [number(r["latency_s"]) for r in rows if not math.isnan(number(r["latency_s"]))]
    if values:
        report.figure("latency", histogram_figure(values, {"p50": latency["p50_s"], "p95": latency["p95_s"],
                                                           "p99": latency["p99_s"]}, xlabel="latency (s)"),
                      "Steady-state latency per example (the warm-up request is excluded).")


def compare_report(runs: list[tuple[str, list[dict], dict]], diffs: dict[str, dict]) -> Report:
    reference = runs[0]
    report = Report(f"compare — {' vs '.join(name for name, _, _ in runs)}")
    metrics = list(reference[2]["metrics"])
    report.heading("Metrics (mean, bootstrap 95% CI)")
    report.table(["metric", "better", *[name for name, _, _ in runs]],
                 [(m, arrow(reference[2]["metrics"][m]["higher_is_better"]),
                   *[cell(summary["metrics"].get(m)) for _, _, summary in runs]) for m in metrics])
    shown = [m for m in metrics if all(s["metrics"].get(m, {}).get("n") and rate_like(s["metrics"][m])
                                       for _, _, s in runs)]
    if shown:
        report.figure("compare", ci_bars_figure(shown, {name: [
            (s["metrics"][m]["mean"], s["metrics"][m]["ci_low"], s["metrics"][m]["ci_high"]) for m in shown]
            for name, _, s in runs}, xlabel="mean (0..1)", xlim=(0, 1)), "Means with bootstrap 95% intervals, per run.")
    for i, (name, comparison) in enumerate(diffs.items(), 1):
        add_comparison_section(report, f"{name} − {reference[0]} (paired by input)", comparison, f"diff_{i}")
    return report


def cell(info: dict | None) -> str:
    """``mean [low, high]`` of a summary metric, or a dash where nothing was scored."""
    if not info or not info["n"]:
        return "—"
    return f"{info['mean']:.3f} {ci_text(info['ci_low'], info['ci_high'])}"
