"""What a demo run shows: the terminal tables at the end, and report.html beside demo.json."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from querytune.demo.config import HEADLINE, MODELS
from querytune.demo.progress import DemoRun, clock


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def score_cell(score: dict | None) -> str:
    if score is None:
        return "—"
    return f"{score['mean']:.3f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}]"


def parse_cell(row: dict) -> str:
    return " / ".join(f"{row[m]['parse_ok']:.0%}" for m in MODELS if row[m])


# ---- the terminal, after the live view ------------------------------------------------------------

def summary_table(result: DemoRun):
    from rich.table import Table

    table = Table(title=f"dev-set {HEADLINE} (mean [95% CI]) and strict-parse rate, {result.model}")
    for col in ("task", "n", *MODELS, "parse ok", "fine-tuned > base"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for row in result.summary:
        table.add_row(row["task"], str(row["n"]), *(score_cell(row[m]) for m in MODELS), parse_cell(row),
                      "[green]yes[/]" if row["beats_base"] else "[red]no[/]")
    return table


def answers_table(answers: list[dict]):
    from rich.table import Table

    table = Table(title="HTTP answers")
    for col in ("route", "request", "answer", "valid", "retries", "ms"):
        table.add_column(col, overflow="fold", justify="right" if col in ("retries", "ms") else "left")
    for a in answers:
        table.add_row(a["route"], a["request"], short(a["answer"], 160),
                      "[green]yes[/]" if a["valid"] else "[red]no[/]", str(a["retries"]), f"{a['client_ms']:.0f}")
    return table


def stages_table(result: DemoRun):
    from rich.table import Table

    table = Table(title=f"stages: {clock(result.seconds)} in all")
    for col in ("stage", "time", "budget", "result"):
        table.add_column(col, justify="right" if col in ("time", "budget") else "left", overflow="fold")
    for s in result.stages:
        table.add_row(s["name"], clock(s["seconds"] or 0), clock(s["budget_s"]), s["note"])
    return table


# ---- report.html ----------------------------------------------------------------------------------

def write_report(result: DemoRun) -> Path:
    """report.html: summary, HTTP answers, sweeps, GRPO, stages, links to every sweep/eval/compare report."""
    from querytune.platform.report import Report

    folder = Path(result.folder)
    report = Report(f"querytune demo — {result.model}")
    report.text("data → Ray Tune sweep of LoRA SFT per task (ASHA) → <task>-best → GRPO → base vs SFT vs GRPO "
                "on the dev sets → Ray Serve app with both adapters → requests over HTTP.")
    report.text(f"Started {result.started}; {clock(result.seconds)} until this report. Everything below was "
                f"produced by this run under {folder}.", muted=True)
    add_summary(report, result)
    add_answers(report, result)
    add_training(report, result)
    report.heading("Stages")
    report.table(["stage", "seconds", "budget (s)", "result"],
                 [[s["name"], round(s["seconds"]), round(s["budget_s"]), s["note"]] for s in result.stages
                  if s["status"] == "done"])
    report.heading("Reports and files")
    report.links((what, os.path.relpath(path, folder)) for what, path in linked_files(result))
    return report.write(folder)


def add_summary(report, result: DemoRun) -> None:
    from querytune.platform.report import ci_bars_figure

    report.heading(f"Base vs fine-tuned on the dev sets ({HEADLINE}: mean [95% CI])")
    report.table(["task", "examples", *MODELS, "parse ok (base / SFT / GRPO)", "fine-tuned beats base"],
                 [[r["task"], r["n"], *(score_cell(r[m]) for m in MODELS), parse_cell(r),
                   "yes" if r["beats_base"] else "no"] for r in result.summary])
    series = {m: [(r[m]["mean"], r[m]["ci_low"], r[m]["ci_high"]) if r[m] else (math.nan,) * 3
                  for r in result.summary] for m in MODELS}
    report.figure("summary", ci_bars_figure([r["task"] for r in result.summary], series,
                                            xlabel=f"{HEADLINE} (0..1)", xlim=(0, 1)),
                  "Headline score per task and model on the same dev examples, 95% bootstrap intervals.")


def add_answers(report, result: DemoRun) -> None:
    """One row per request; a qmd answer keeps its ``lex:``/``vec:``/``hyde:`` lines (the table keeps line breaks)."""
    report.heading(f"Answers over HTTP ({result.url}, Ray Serve)")
    report.table(["route", "request", "answer", "valid", "retries", "latency (ms)"],
                 [[a["route"], a["request"] + (f"  (candidate repos: {', '.join(a['candidate_repos'])})"
                                               if a["candidate_repos"] else ""), a["answer"],
                   "yes" if a["valid"] else "no", a["retries"], round(a["client_ms"])] for a in result.answers])


def add_training(report, result: DemoRun) -> None:
    report.heading("Sweeps (Ray Tune: Optuna TPE + ASHA)")
    report.table(["task", "best adapter", "best trial", "metric", "params", "trials (status, metric)"],
                 [[task, s["adapter"], s["best_trial"], f"{s['metric']} {fmt(s['value'])}",
                   ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in s["params"].items()),
                   "; ".join(f"{n}: {status} {fmt(metric)}" for n, status, metric in s["trials"])]
                  for task, s in result.sweeps.items()])
    if result.grpo:
        report.heading("GRPO")
        report.text(f"{result.grpo['adapter']} from {result.grpo['parent']} ({result.grpo['steps']} steps): "
                    f"{result.grpo['note']}.")


def linked_files(result: DemoRun) -> list[tuple[str, str]]:
    files = [(f"sweep {t}", s["report"]) for t, s in result.sweeps.items()]
    for task, runs in result.evals.items():
        files += [(f"eval {task} {label}", str(Path(f) / "report.html")) for label, f in runs.items()]
        files.append((f"compare {task}", result.compares[task]))
    return files + [("adapter registry", str(Path(result.folder) / "adapters")), ("this run's record",
                                                                               str(Path(result.folder) / "demo.json"))]
