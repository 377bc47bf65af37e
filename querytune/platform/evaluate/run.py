"""Running an eval: examples -> a backend -> scored rows -> the run folder; scoring files; comparing runs.

A run folder holds ``examples.jsonl`` and ``summary.json`` (``statistics``) and
``report.html`` (``report``); ``compare_runs`` reads folders back and diffs them.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from querytune.platform import tracking
from querytune.platform.config import TrackingSection
from querytune.platform.evaluate.report import compare_report, eval_report
from querytune.platform.evaluate.statistics import (
    Timing,
    cost_summary,
    judge,
    latency_summary,
    nanmean,
    number,
    paired_differences,
    summarize,
)

EXAMPLES_FILE = "examples.jsonl"
SUMMARY_FILE = "summary.json"
DEFAULT_MAX_NEW_TOKENS = 256
DEFAULT_GPU_PRICE = 2.5  # $ per device-hour; an on-demand single-GPU cloud price


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
    retries: int = Field(0, ge=0, description="resample an answer the task cannot parse up to N times at "
                         "retry_temperature, as a serve route does (routes.<task>.retries); hf, vllm")
    retry_temperature: float = Field(0.7, gt=0, description="sampling temperature of a resample")
    baseline: str | None = Field(None, description="run folder to compare with, example by example")
    out: str | None = Field(None, description="run folder (default runs/eval/<task>-<model>-<time>)")
    storage: str = Field("runs", description="storage root of runs and the adapter registry")
    gpu_price: float = Field(DEFAULT_GPU_PRICE, gt=0, description="$ per device-hour for the cost lines")
    seed: int = Field(0, description="bootstrap seed")
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="MLflow / TensorBoard logging")


def run_eval(spec: EvalSpec) -> Path:
    """examples -> backend (warm-up, then all) -> score -> summary -> report; returns the run folder."""
    from querytune.experiments import get_task
    from querytune.platform.backends import make_backend

    task = get_task(spec.task)
    tracking.check(spec.tracking, "--tracking ", spec.storage)
    if spec.retries and (spec.best_of > 1 or spec.backend not in ("hf", "vllm")):
        raise EvalError(f"--retries {spec.retries} resamples greedy answers of a backend that samples (hf, "
                        f"vllm); this run has --best-of {spec.best_of} and --backend {spec.backend}")
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
        resampled = resample_unparsed(task, backend, conversations, texts, spec)
    finally:
        backend.close()
    rows = [judge(task, i, ex, msgs, text, latency) | {"retries": n} for i, (ex, msgs, text, latency, n)
            in enumerate(zip(examples, conversations, texts, timing.latencies, resampled))]
    for row, pick in zip(rows, picks or ()):
        add_pick(task, row, pick)
    summary = summarize(task, rows, spec.seed)
    summary["latency"] = latency_summary(timing)
    summary["resampled"] = {"answers": sum(n > 0 for n in resampled), "samples": sum(resampled)}
    summary["cost"] = cost_summary(timing.wall_s, len(rows), spec.gpu_price, training_seconds(spec))
    summary["spec"] = spec.model_dump()
    out = Path(spec.out or default_folder(spec.storage, task.name, spec.adapter or spec.model))
    write_run(out, rows, summary, baseline)
    tracking.log_eval(spec, out)
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
        from querytune.platform.config import DataSection

        splits = data_mod.build(task, DataSection())
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


def resample_unparsed(task, backend, conversations: Sequence[list], texts: list[str], spec: EvalSpec) -> list[int]:
    """Sample again, in place, each answer the task cannot parse, up to ``spec.retries`` times (what a
    served route answers); returns each answer's count of resamples."""
    from querytune.experiments.base import ParseError

    def parses(text: str) -> bool:
        try:
            task.parse(text)
            return True
        except ParseError:
            return False

    counts = [0] * len(texts)
    for attempt in range(spec.retries):
        failed = [i for i, text in enumerate(texts) if not parses(text)]
        if not failed:
            break
        groups = backend.sample([conversations[i] for i in failed], spec.max_new_tokens, 1,
                                spec.retry_temperature, seed=spec.seed + attempt)
        for i, group in zip(failed, groups):
            texts[i], counts[i] = group[0].text, counts[i] + 1
    return counts


def best_of_all(task, backend, examples: list[dict], conversations: Sequence[list],
                spec: EvalSpec) -> tuple[list[str], Timing, list[dict]]:
    """``spec.best_of`` sampled answers per example; the answer is the one ``task.choose``
    picks (no gold). Returns the answers, timing, and per example the candidates and pick."""
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


# ---- comparing runs ------------------------------------------------------------------------------

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
