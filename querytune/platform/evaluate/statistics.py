"""Scoring rows and the statistics over them: bootstrap CIs, summaries, latency and cost, paired differences.

Means skip NaN, so a metric that does not apply to an example does not drag the mean. A row
that cannot be scored (its gold does not parse: ``GoldError``, or the scorer raised) is not
dropped: it scores 0, carries its ``error``, and the summary counts it in ``n_errors``.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass
class Timing:
    """Latency of the warm-up request, and the steady-state run that followed it."""

    first_request_s: float
    wall_s: float
    latencies: list[float] = field(default_factory=list)


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
    return {"task": task.name, "scorer_version": task.scorer_version, "count": len(rows),
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
