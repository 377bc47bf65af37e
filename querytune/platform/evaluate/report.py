"""The HTML reports of an eval run and of a comparison of runs (tables and figures, ``platform/report``)."""
from __future__ import annotations

import math

from querytune.platform.evaluate.statistics import number, pair_key, verdict
from querytune.platform.report import Report, ci_bars_figure, histogram_figure

WORST_SHOWN = 10
SHOWN_CHARS = 300  # longest input/output shown in a report cell


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
        report.figure("latency", latency_figure(values, latency),
                      "Steady-state latency per example (the warm-up request is excluded).")


def latency_figure(values: list[float], latency: dict[str, float]):
    """Histogram of per-example seconds with p50/p95/p99 marked; the axis starts at 0 at the lowest."""
    return histogram_figure(values, {"p50": latency["p50_s"], "p95": latency["p95_s"], "p99": latency["p99_s"]},
                            xlabel="latency (s)", floor=0.0)


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
