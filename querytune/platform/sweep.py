"""Hyperparameter sweeps: Ray Tune over any TrainConfig field, ranked by the task's own metric.

A trial is the SFT run of ``querytune train`` with the sampled values set on the base
config. Ray Train V2 runs inside Tune only as a function trainable that calls
``TorchTrainer.fit()`` (``Tuner(trainer)`` is refused), so a trial's driver takes one
CPU and its Ray Train workers take what ``train.scaling`` asks for; a fractional GPU
share lets several small trials use one GPU. Optuna's TPE picks the values; ASHA
stops trials whose validation task metric, reported at every epoch, trails the others
at the same epoch. Each trial's Train run keeps its own checkpoints, so a sweep
restored with ``Tuner.restore`` continues unfinished trials where they were and never
reruns finished ones.

Afterwards: a leaderboard, the best finished trial's adapter registered (with its
lineage) as ``<task>-best`` (the one it replaces kept as ``<task>-best.v<N>``), and an
HTML report. Layout of a sweep folder,
``<storage>/sweeps/<train.run.name>/``::

    sweep.yaml  leaderboard.json  report.html  *.png   what the sweep produced
    trial-<id>/                                        Tune's record of one trial
    train/trial-<id>/checkpoint_*                      that trial's Ray Train run
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from querytune.platform import adapters, launch, storage
from querytune.platform.config import ConfigError, SearchDim, SweepConfig, TrainConfig, save_config, set_path

log = logging.getLogger(__name__)

SWEEPS_SUBDIR = "sweeps"
TRAIN_SUBDIR = "train"
TRIAL_DRIVER_CPUS = 1  # the trainable only waits on TorchTrainer.fit(); workers bring their own resources
ASHA_MAX_EPOCHS = 1000  # beyond any sft.epochs: trials end by their own epochs, ASHA stops them only at rungs
FINISHED, STOPPED, ERROR = "finished", "stopped early", "error"


class SweepInterrupted(RuntimeError):
    """The sweep stopped (Ctrl-C, lost driver) before every trial ended; its state is saved."""


class SweepFailed(RuntimeError):
    """Every trial of the sweep failed: there is nothing to rank or register."""


@dataclass
class TrialRow:
    """One line of the leaderboard."""

    trial: str
    status: str
    params: dict[str, Any]
    metric: float | None
    loss: float | None
    epochs: float
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: epoch, metric, loss
    adapter: str | None = None  # the finished adapter's folder; finished trials only
    error: str | None = None


@dataclass
class SweepOutcome:
    folder: str
    metric: str
    mode: str
    rows: list[TrialRow]
    best: TrialRow | None
    registered: str | None  # registry name of the best adapter
    report: str


# --------------------------------------------------------------------------- trials
def sweeps_root(cfg: SweepConfig) -> str:
    return storage.join(launch.absolute_storage(cfg.train.run.storage_path), SWEEPS_SUBDIR)


def sweep_folder(cfg: SweepConfig) -> str:
    return storage.join(sweeps_root(cfg), cfg.train.run.name)


def trial_name(trial_id: str) -> str:
    return f"trial-{trial_id}"


def get_path(cfg: TrainConfig, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def trial_config(base: TrainConfig, space: dict[str, SearchDim], params: dict[str, Any]) -> TrainConfig:
    """``base`` with a trial's sampled values; a ``mult`` key gets other key x sampled factor."""
    cfg = base
    for key, dim in space.items():
        if not dim.mult:
            cfg = set_path(cfg, key, params[key])
    for key, dim in space.items():
        if dim.mult:
            cfg = set_path(cfg, key, get_path(cfg, dim.mult[0]) * params[key])
    return cfg


def resolved_params(base: TrainConfig, space: dict[str, SearchDim], params: dict[str, Any]) -> dict[str, Any]:
    """The values a trial trained with (a ``mult`` key shows its product, not the factor)."""
    cfg = trial_config(base, space, params)
    return {key: get_path(cfg, key) for key in space}


def run_trial(params: dict, *, base: dict, space: dict, train_root: str) -> None:
    """Tune function trainable: the trial's SFT run on Ray Train, its epoch reports forwarded to Tune."""
    import ray.tune

    from querytune.platform.train_sft import train_loop

    name = trial_name(ray.tune.get_context().get_trial_id())
    dims = {key: SearchDim.model_validate(dim) for key, dim in space.items()}
    cfg = trial_config(TrainConfig.model_validate(base), dims, params)
    cfg = set_path(set_path(cfg, "run.name", name), "run.storage_path", train_root)  # the manifest names the trial
    # [ray] same run name on a retry or restore, so the Train run resumes from its last checkpoint
    launch.fit(cfg, train_loop, name=name, callbacks=[forward_reports()])


def forward_reports():
    """Tune's TuneReportCallback, with the Train run's final ``done`` renamed ``finished``.

    Tune reads a reported ``done`` as "stop this trial now" and would kill the trial before its Train
    run has shut down and given back its workers' resources.
    """
    from ray.tune.integration.ray_train import TuneReportCallback

    class ForwardReports(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            renamed = [{("finished" if k == "done" else k): v for k, v in m.items()} for m in metrics]
            super().after_report(run_context, renamed, checkpoint)

    return ForwardReports()


def tune_space(space: dict[str, SearchDim]) -> dict[str, Any]:
    """Tune's search space; a ``mult`` dimension searches its factor."""
    from ray import tune

    def domain(dim: SearchDim):
        if dim.choice is not None:
            return tune.choice(dim.choice)
        if dim.loguniform is not None:
            return tune.loguniform(*dim.loguniform)
        if dim.uniform is not None:
            return tune.uniform(*dim.uniform)
        return tune.choice(dim.mult[1])

    return {key: domain(dim) for key, dim in space.items()}


# --------------------------------------------------------------------------- tuner
def _dirname(trial) -> str:
    return trial_name(trial.trial_id)


def tracking_callbacks(experiment: str) -> list:
    """MLflow / W&B logging of every trial, switched on by their usual environment variables."""
    callbacks = []
    if os.environ.get("MLFLOW_TRACKING_URI"):
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        callbacks.append(MLflowLoggerCallback(tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
                                              experiment_name=experiment))
    if os.environ.get("WANDB_PROJECT"):
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks.append(WandbLoggerCallback(project=os.environ["WANDB_PROJECT"], group=experiment))
    return callbacks


def build_tuner(cfg: SweepConfig, folder: str, resume: bool):
    """A new Tuner over ``run_trial``, or the interrupted one in ``folder`` with its searcher and scheduler."""
    from optuna.samplers import TPESampler
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    trainable = tune.with_resources(  # [ray] the driver's CPU; workers' resources come from train.scaling
        tune.with_parameters(run_trial, base=cfg.train.model_dump(mode="json"),
                             space={k: d.model_dump(mode="json") for k, d in cfg.space.items()},
                             train_root=storage.join(folder, TRAIN_SUBDIR)),
        {"CPU": TRIAL_DRIVER_CPUS})
    if resume:
        return tune.Tuner.restore(folder, trainable, resume_unfinished=True, resume_errored=True)
    s = cfg.sweep
    # TPE models the results after a few random trials, not Optuna's default 10: sweeps here are small.
    sampler = TPESampler(seed=s.seed, n_startup_trials=max(2, min(10, s.num_samples // 3)))
    return tune.Tuner(
        trainable,
        param_space=tune_space(cfg.space),
        tune_config=tune.TuneConfig(
            metric=s.metric, mode=s.mode, num_samples=s.num_samples, max_concurrent_trials=s.max_concurrent_trials,
            search_alg=OptunaSearch(sampler=sampler, points_to_evaluate=s.points_to_evaluate or None),
            scheduler=ASHAScheduler(time_attr="epoch", max_t=ASHA_MAX_EPOCHS, grace_period=s.grace_period,
                                    reduction_factor=s.reduction_factor),
            trial_name_creator=_dirname, trial_dirname_creator=_dirname),
        run_config=tune.RunConfig(
            name=cfg.train.run.name, storage_path=sweeps_root(cfg),
            failure_config=tune.FailureConfig(max_failures=s.max_failures),
            callbacks=tracking_callbacks(cfg.train.run.name)),
    )


def check_metric(cfg: SweepConfig, task) -> None:
    """The ranked metric must be one the trials report (a val_<task metric> or the training loss),
    ranked in its own direction."""
    higher_is_better = {f"val_{m}": up for m, up in task.metrics.items()} | {"loss": False}
    metric, mode = cfg.sweep.metric, cfg.sweep.mode
    if metric not in higher_is_better:
        raise ConfigError(f"sweep.metric={metric!r}: trials of task {task.name!r} do not report it; "
                          f"use one of {', '.join(higher_is_better)}")
    if (mode == "max") != higher_is_better[metric]:
        raise ConfigError(f"sweep.mode={mode!r}: {metric} is {'higher' if higher_is_better[metric] else 'lower'}"
                          f"-is-better; set sweep.mode={'max' if higher_is_better[metric] else 'min'}")
    if metric.startswith("val_") and cfg.train.data.val_samples == 0:
        raise ConfigError(f"train.data.val_samples=0: sweep.metric={metric!r} is computed on that many val rows "
                          "at every epoch; set it to at least 1 (try 16)")


def check_capacity(cfg: SweepConfig) -> None:
    """Refuse a sweep whose one trial can never fit (it would wait forever); warn when the concurrent
    trials cannot all get their resources: they would wait for each other."""
    per_trial = launch.run_needs(cfg.train.scaling, driver_cpus=TRIAL_DRIVER_CPUS)
    have, final = launch.cluster_capacity()
    for resource, amount in per_trial.items():
        available = have.get(resource, 0)
        if amount > available and not final:
            log.warning("one trial needs %g %s (its workers and its driver) but the cluster has %g now: "
                        "no trial starts until a node that can hold one joins; lower train.scaling "
                        "or add nodes", amount, resource, available)
            continue
        if amount > available:
            raise ConfigError(f"one trial needs {amount:g} {resource} (its workers and its driver) but the cluster "
                              f"can have at most {available:g}: no trial could ever start; lower train.scaling "
                              "or add nodes")
        need = amount * cfg.sweep.max_concurrent_trials
        if need > available:
            log.warning("sweep.max_concurrent_trials=%d needs %g %s (%g per trial) but the cluster has %g: "
                        "trials will queue; lower it or add nodes", cfg.sweep.max_concurrent_trials, need,
                        resource, amount, available)


def run(cfg: SweepConfig, resume: bool = False) -> SweepOutcome:
    """`querytune sweep`: tune, then rank, register the best adapter and write the report."""
    from ray import tune

    from querytune.experiments import get_task

    task = get_task(cfg.train.task)  # fail here, not in every trial
    check_metric(cfg, task)
    folder = sweep_folder(cfg)
    exists = tune.Tuner.can_restore(folder)
    if resume and not exists:
        raise ConfigError(f"--resume: no sweep to resume at {folder} (train.run.name={cfg.train.run.name!r})")
    if exists and not resume:
        raise ConfigError(f"{folder} already holds a sweep named {cfg.train.run.name!r}: pass --resume to "
                          "continue it, or set train.run.name to start another")
    launch.ensure_ray()
    check_capacity(cfg)
    grid = build_tuner(cfg, folder, resume).fit()
    left = unfinished_trials(folder, cfg.sweep.num_samples)
    if left:
        raise SweepInterrupted(f"sweep {cfg.train.run.name!r} was interrupted with {left} of "
                               f"{cfg.sweep.num_samples} trials unfinished; its state is saved in {folder}: "
                               "run the same command with --resume")

    rows = rank(collect(grid, cfg, folder), cfg.sweep.mode)
    best = next((row for row in rows if row.status == FINISHED), None)
    registered = None
    if best is not None:
        registered = cfg.train.run.register_as or f"{task.name}-best"
        adapters.register(best.adapter, registered, cfg.train.run.storage_path, keep_previous=True)
    outcome = SweepOutcome(folder=folder, metric=cfg.sweep.metric, mode=cfg.sweep.mode, rows=rows, best=best,
                           registered=registered, report=storage.join(folder, "report.html"))
    write_outputs(outcome, cfg)
    if rows and all(row.status == ERROR for row in rows):
        raise SweepFailed(f"every trial of sweep {cfg.train.run.name!r} failed ({len(rows)} of {len(rows)}), "
                          f"nothing registered; the first: {rows[0].trial}: {rows[0].error} (report: {outcome.report})")
    return outcome


def unfinished_trials(folder: str, num_samples: int) -> int:
    """Trials a restore would still run, as Tune saved its state (after Ctrl-C, Tune's own copies of
    the trials say TERMINATED, so the saved state is what tells)."""
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(folder).trials
    ended = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
    return max(num_samples, len(trials)) - ended


# --------------------------------------------------------------------------- leaderboard
def collect(grid, cfg: SweepConfig, folder: str) -> list[TrialRow]:
    """One row per trial of a finished ``ResultGrid``."""
    train_root = storage.join(folder, TRAIN_SUBDIR)
    rows = []
    for result in grid:
        name = PurePosixPath(result.path).name
        history = _history(result.metrics_dataframe, cfg.sweep.metric)
        adapter = _finished_adapter(storage.join(train_root, name))
        status = ERROR if result.error else FINISHED if adapter else STOPPED
        rows.append(TrialRow(
            trial=name, status=status, params=resolved_params(cfg.train, cfg.space, result.config),
            metric=_last(history, "metric"), loss=_last(history, "loss"),
            epochs=max((h["epoch"] for h in history if h.get("epoch") is not None), default=0.0),
            history=[h for h in history if h.get("epoch") is not None], adapter=adapter,
            error=launch.failure_summary(result.error) if result.error else None))
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None


def _history(frame, metric: str) -> list[dict[str, float | None]]:
    """Every report of a trial: epoch (None on the final report), metric and loss."""
    if frame is None:
        return []
    return [{"epoch": _number(rec.get("epoch")), "metric": _number(rec.get(metric)), "loss": _number(rec.get("loss"))}
            for rec in frame.to_dict("records")]


def _last(history: list[dict], key: str) -> float | None:
    return next((h[key] for h in reversed(history) if h[key] is not None), None)


def _finished_adapter(run_dir: str) -> str | None:
    """The adapter a trial's Train run wrote; only a run that finished writes one.

    Read from storage, not from Tune's last result: a trial can end before Tune has taken its
    final report off the queue, and then its last result points at an epoch checkpoint.
    """
    from querytune.platform.launch import ADAPTER_SUBDIR

    for name in reversed(storage.list_dirs(run_dir)):
        adapter = storage.join(run_dir, name, ADAPTER_SUBDIR)
        if name.startswith("checkpoint_") and storage.exists(storage.join(adapter, adapters.MANIFEST)):
            return adapter
    return None


def rank(rows: list[TrialRow], mode: str) -> list[TrialRow]:
    """Best metric first; ties go to the lower loss; trials without the metric last."""
    sign = -1 if mode == "max" else 1
    return sorted(rows, key=lambda r: (r.metric is None, sign * (r.metric or 0.0),
                                       r.loss if r.loss is not None else math.inf))


def leaderboard_table(outcome: SweepOutcome):
    """The leaderboard as a rich table (the best trial in bold)."""
    from rich.table import Table

    keys = list(outcome.rows[0].params) if outcome.rows else []
    table = Table(title=f"sweep {PurePosixPath(outcome.folder).name}: {outcome.metric} ({outcome.mode})")
    table.add_column("#", justify="right")
    table.add_column("trial", no_wrap=True)
    for col in (*keys, outcome.metric, "loss", "epochs"):
        table.add_column(col, justify="right")
    table.add_column("status", no_wrap=True)
    for i, row in enumerate(outcome.rows, 1):
        table.add_row(str(i), row.trial, *(_fmt(row.params[k]) for k in keys), _fmt(row.metric), _fmt(row.loss),
                      _fmt(row.epochs), row.status, style="bold" if row is outcome.best else None)
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- outputs
def write_outputs(outcome: SweepOutcome, cfg: SweepConfig) -> None:
    """sweep.yaml, leaderboard.json and report.html (+ PNGs) into the sweep folder."""
    local = Path(tempfile.mkdtemp(prefix="querytune-sweep-")) if storage.is_uri(outcome.folder) else Path(
        outcome.folder)
    save_config(cfg, local / "sweep.yaml")
    board = {"metric": outcome.metric, "mode": outcome.mode, "registered": outcome.registered,
             "best": asdict(outcome.best) if outcome.best else None, "trials": [asdict(r) for r in outcome.rows]}
    (local / "leaderboard.json").write_text(json.dumps(board, indent=2))
    build_report(outcome, cfg).write(local)
    if storage.is_uri(outcome.folder):
        storage.upload(local, outcome.folder)


def build_report(outcome: SweepOutcome, cfg: SweepConfig):
    from querytune.platform.report import Report

    rows, metric = outcome.rows, outcome.metric
    counts = {s: sum(r.status == s for r in rows) for s in (FINISHED, STOPPED, ERROR)}
    report = Report(f"Sweep {cfg.train.run.name} ({cfg.train.task}, {cfg.train.model.name})")
    report.text(f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
                f". Ranked by {metric} ({outcome.mode}); ASHA (grace {cfg.sweep.grace_period} epoch, "
                f"reduction {cfg.sweep.reduction_factor}) stopped trials that trailed at an epoch.")
    report.heading("Leaderboard")
    keys = list(cfg.space)
    report.table(["trial", *keys, metric, "loss", "epochs", "status"],
                 [[r.trial, *(r.params[k] for k in keys), _fmt(r.metric), _fmt(r.loss), _fmt(r.epochs), r.status]
                  for r in rows])
    report.heading("Best configuration")
    if outcome.best:
        report.code(yaml.safe_dump({"trial": outcome.best.trial, "adapter": outcome.registered, metric:
                                    outcome.best.metric, **outcome.best.params}, sort_keys=False))
    else:
        report.text("No trial finished, so no adapter was registered.")
    scored = [r for r in rows if r.metric is not None]
    if scored and keys:
        report.heading(f"{metric} against each hyperparameter")
        report.figure("metric_vs_params", params_figure(scored, cfg.space, metric), "x: stopped early")
        report.heading("Parallel coordinates")
        report.figure("parallel_coordinates", parallel_figure(scored, cfg.space, metric),
                      f"one line per trial, coloured by {metric}; dashed: stopped early")
    report.heading("Learning curves")
    report.figure("learning_curves", curves_figure(rows, metric), "dashed: stopped early by ASHA")
    if counts[ERROR]:
        report.heading("Errors")
        report.table(["trial", "error"], [[r.trial, r.error] for r in rows if r.status == ERROR])
    return report


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
            ax.set_xscale("log")
        if not _is_numeric(values):
            labels = sorted(map(str, set(values)))
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    fig.tight_layout()
    return fig


def curves_figure(rows: list[TrialRow], metric: str):
    fig, (left, right) = _axes(2, 11, 3.8)
    for i, row in enumerate(rows):
        style = "--" if row.status == STOPPED else "-"
        for ax, key in ((left, "metric"), (right, "loss")):
            points = [(h["epoch"], h[key]) for h in row.history if h[key] is not None]
            if points:
                ax.plot(*zip(*points), style, marker="o", color=f"C{i % 10}", label=row.trial)
    for ax, label in ((left, metric), (right, "training loss")):
        ax.set_xlabel("epoch")
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
