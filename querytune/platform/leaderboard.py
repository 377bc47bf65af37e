"""What a sweep produced: ranked trial rows, the terminal leaderboard, leaderboard.json and the
HTML report with its figures (metric against each hyperparameter, parallel coordinates,
learning curves).

``platform/sweep.py`` runs the trials and turns Tune's results into these rows; nothing here
imports Ray. A row's progress is in its recipe's unit (SFT: epochs, GRPO: steps).
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from querytune.platform import storage
from querytune.platform.config import save_config
from querytune.platform.sweep_config import SearchDim, SweepConfig

FINISHED, STOPPED, ERROR = "finished", "stopped early", "error"


@dataclass
class TrialRow:
    """One line of the leaderboard."""

    trial: str
    status: str
    params: dict[str, Any]
    metric: float | None
    loss: float | None
    progress: float  # the furthest epoch (SFT) or step (GRPO) it reported
    history: list[dict[str, float]] = field(default_factory=list)  # per report: progress, metric, loss
    adapter: str | None = None  # the finished adapter's folder; finished trials only
    error: str | None = None


@dataclass
class SweepOutcome:
    folder: str
    metric: str
    mode: str
    progress: str  # the unit of the rows' progress: epoch or step (the trials' recipe's)
    rows: list[TrialRow]
    best: TrialRow | None
    registered: str | None  # registry name of the best adapter
    report: str


def rank(rows: list[TrialRow], mode: str) -> list[TrialRow]:
    """Best metric first; ties go to the lower loss; trials without the metric last."""
    sign = -1 if mode == "max" else 1
    return sorted(rows, key=lambda r: (r.metric is None, sign * (r.metric or 0.0),
                                       r.loss if r.loss is not None else math.inf))


def table(outcome: SweepOutcome):
    """The leaderboard as a rich table (the best trial in bold)."""
    from rich.table import Table

    keys = list(outcome.rows[0].params) if outcome.rows else []
    board = Table(title=f"sweep {PurePosixPath(outcome.folder).name}: {outcome.metric} ({outcome.mode})")
    board.add_column("#", justify="right")
    board.add_column("trial", no_wrap=True)
    for col in (*keys, outcome.metric, "loss", f"{outcome.progress}s"):
        board.add_column(col, justify="right")
    board.add_column("status", no_wrap=True)
    for i, row in enumerate(outcome.rows, 1):
        board.add_row(str(i), row.trial, *(_fmt(row.params[k]) for k in keys), _fmt(row.metric), _fmt(row.loss),
                      _fmt(row.progress), row.status, style="bold" if row is outcome.best else None)
    return board


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write(outcome: SweepOutcome, cfg: SweepConfig) -> None:
    """sweep.yaml, leaderboard.json and report.html (+ PNGs) into the sweep folder."""
    local = Path(tempfile.mkdtemp(prefix="querytune-sweep-")) if storage.is_uri(outcome.folder) else Path(
        outcome.folder)
    save_config(cfg, local / "sweep.yaml")
    board = {"metric": outcome.metric, "mode": outcome.mode, "registered": outcome.registered,
             "best": asdict(outcome.best) if outcome.best else None, "trials": [asdict(r) for r in outcome.rows]}
    (local / "leaderboard.json").write_text(json.dumps(board, indent=2))
    report(outcome, cfg).write(local)
    if storage.is_uri(outcome.folder):
        storage.upload(local, outcome.folder)


def report(outcome: SweepOutcome, cfg: SweepConfig):
    """The HTML report: counts, the leaderboard, the best configuration and the figures."""
    from querytune.platform.report import Report

    rows, metric, unit = outcome.rows, outcome.metric, outcome.progress
    counts = {s: sum(r.status == s for r in rows) for s in (FINISHED, STOPPED, ERROR)}
    page = Report(f"Sweep {cfg.train.run.name} ({cfg.train.recipe} {cfg.train.task}, {cfg.train.model.name})")
    page.text(f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
              f". Ranked by {metric} ({outcome.mode}); ASHA (grace {cfg.sweep.grace_period} {unit}, "
              f"reduction {cfg.sweep.reduction_factor}) stopped trials that trailed at a rung.")
    page.heading("Leaderboard")
    keys = list(cfg.space)
    page.table(["trial", *keys, metric, "loss", f"{unit}s", "status"],
               [[r.trial, *(r.params[k] for k in keys), _fmt(r.metric), _fmt(r.loss), _fmt(r.progress), r.status]
                for r in rows])
    page.heading("Best configuration")
    if outcome.best:
        page.code(yaml.safe_dump({"trial": outcome.best.trial, "adapter": outcome.registered, metric:
                                  outcome.best.metric, **outcome.best.params}, sort_keys=False))
    else:
        page.text("No trial finished, so no adapter was registered.")
    scored = [r for r in rows if r.metric is not None]
    if scored and keys:
        page.heading(f"{metric} against each hyperparameter")
        page.figure("metric_vs_params", params_figure(scored, cfg.space, metric), "x: stopped early")
        page.heading("Parallel coordinates")
        page.figure("parallel_coordinates", parallel_figure(scored, cfg.space, metric),
                    f"one line per trial, coloured by {metric}; dashed: stopped early")
    page.heading("Learning curves")
    page.figure("learning_curves", curves_figure(rows, metric, unit), "dashed: stopped early by ASHA")
    if counts[ERROR]:
        page.heading("Errors")
        page.table(["trial", "error"], [[r.trial, r.error] for r in rows if r.status == ERROR])
    return page


def _axes(ncols: int, width: float, height: float):
    from querytune.platform.report import new_figure

    fig, _ = new_figure(width, height)
    fig.clear()
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _is_numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def params_figure(rows: list[TrialRow], space: dict[str, SearchDim], metric: str):
    fig, axes = _axes(len(space), 3.2 * len(space), 3.2)
    for ax, key in zip(axes, space):
        values = [r.params[key] for r in rows]
        xs = values if _is_numeric(values) else [sorted(map(str, set(values))).index(str(v)) for v in values]
        for row, x in zip(rows, xs):
            ax.scatter(x, row.metric, marker="x" if row.status == STOPPED else "o", color="C0")
        if space[key].loguniform:
            _log_axis(ax, *space[key].loguniform)
        if not _is_numeric(values):
            labels = sorted(map(str, set(values)))
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    fig.tight_layout()
    return fig


def _log_axis(ax, low: float, high: float) -> None:
    """Three labelled ticks across the searched range: a range under a factor of 10 would otherwise get
    matplotlib's minor-tick labels (2.8e-3, 3e-3, ...), which overprint."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ticks = [low * (high / low) ** (i / 2) for i in range(3)]
    ax.set_xticks(ticks, [f"{t:.2g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())


def curves_figure(rows: list[TrialRow], metric: str, unit: str):
    fig, (left, right) = _axes(2, 11, 3.8)
    for i, row in enumerate(rows):
        style = "--" if row.status == STOPPED else "-"
        for ax, key in ((left, "metric"), (right, "loss")):
            points = [(h["progress"], h[key]) for h in row.history if h[key] is not None]
            if points:
                ax.plot(*zip(*points), style, marker="o", color=f"C{i % 10}", label=row.trial)
    for ax, label in ((left, metric), (right, "training loss")):
        ax.set_xlabel(unit)
        ax.set_ylabel(label)
    left.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _normalise(values: list, log_scale: bool) -> list[float]:
    if not _is_numeric(values):
        labels = sorted(map(str, set(values)))
        return [labels.index(str(v)) / max(1, len(labels) - 1) for v in values]
    xs = [math.log10(v) if log_scale else float(v) for v in values]
    low, high = min(xs), max(xs)
    return [(x - low) / (high - low) if high > low else 0.5 for x in xs]


def parallel_figure(rows: list[TrialRow], space: dict[str, SearchDim], metric: str):
    """Each trial as a line across its (scaled) hyperparameters and its metric."""
    import matplotlib

    keys = [*space, metric]
    columns = [_normalise([r.params[k] for r in rows], bool(space[k].loguniform)) for k in space]
    columns.append(_normalise([r.metric for r in rows], False))
    fig, (ax,) = _axes(1, max(6.5, 1.6 * len(keys)), 3.8)
    colours = matplotlib.colormaps["viridis"]
    for i, row in enumerate(rows):
        ax.plot(range(len(keys)), [col[i] for col in columns], "--" if row.status == STOPPED else "-",
                color=colours(columns[-1][i]), alpha=0.85)
    for x, key in enumerate(keys):
        values = [r.params[key] for r in rows] if key in space else [r.metric for r in rows]
        ax.axvline(x, color="#999", linewidth=0.8)
        if _is_numeric(values):
            ax.text(x, -0.08, _fmt(min(values)), ha="center", va="top", fontsize=7)
            ax.text(x, 1.08, _fmt(max(values)), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    fig.tight_layout()
    return fig

