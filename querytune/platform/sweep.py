"""Hyperparameter sweeps: Ray Tune over any train config field, ranked by the task's own metric.

A trial is the run of ``querytune train`` with the sampled values set on the base config,
in the recipe that config names (``platform/recipes/``: SFT, or GRPO from one SFT parent that
every trial shares). Ray Train V2 runs inside Tune only as a function trainable that calls
``TorchTrainer.fit()`` (``Tuner(trainer)`` is refused), so a trial's driver takes one
CPU and its Ray Train workers take what ``train.scaling`` asks for; a fractional GPU
share lets several small trials use one GPU. Optuna's TPE picks the values; ASHA
stops trials whose validation task metric, reported at every epoch (SFT) or every
``grpo.eval_every`` steps (GRPO), trails the others at the same point. Each trial's
Train run keeps its own checkpoints, so a sweep restored with ``Tuner.restore`` continues
unfinished trials where they were and never reruns finished ones.

Afterwards (``platform/leaderboard.py``): a leaderboard, the best finished trial's adapter
registered (with its lineage) as ``<task>-best`` (GRPO: ``<task>-grpo-best``; the one it
replaces kept as ``<name>.v<N>``), and an HTML report. Layout of a sweep folder,
``<storage>/sweeps/<train.run.name>/``::

    sweep.yaml  leaderboard.json  report.html  *.png   what the sweep produced
    trial-<id>/                                        Tune's record of one trial
    train/trial-<id>/checkpoint_*                      that trial's Ray Train run
"""
from __future__ import annotations

import logging
import math
from pathlib import PurePosixPath
from typing import Any

from querytune.platform import adapters, launch, storage, tracking
from querytune.platform.config import ConfigError, TrainConfig, set_path, validate
from querytune.platform.leaderboard import ERROR, FINISHED, STOPPED, SweepOutcome, TrialRow, rank, write
from querytune.platform.recipes import RECIPES
from querytune.platform.recipes.common import ADAPTER_SUBDIR
from querytune.platform.sweep_config import SearchDim, SweepConfig

log = logging.getLogger(__name__)

SWEEPS_SUBDIR = "sweeps"
TRAIN_SUBDIR = "train"
TRIAL_DRIVER_CPUS = 1  # the trainable only waits on TorchTrainer.fit(); workers bring their own resources
ASHA_MAX_T = 1_000_000  # beyond any run's epochs or steps: trials end by their own length, ASHA stops them at rungs


class SweepInterrupted(RuntimeError):
    """The sweep stopped (Ctrl-C, lost driver) before every trial ended; its state is saved."""


class SweepFailed(RuntimeError):
    """Every trial of the sweep failed: there is nothing to rank or register."""


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
    """Tune function trainable: the trial's run of its recipe on Ray Train, its reports forwarded to Tune.

    The Train run lives under ``train_root``; ``run.storage_path`` stays the registry's, where a GRPO
    trial finds its parent.
    """
    import ray.tune

    name = trial_name(ray.tune.get_context().get_trial_id())
    dims = {key: SearchDim.model_validate(dim) for key, dim in space.items()}
    cfg = set_path(trial_config(validate(TrainConfig, base), dims, params), "run.name", name)  # the manifest names it
    cfg = tracking.for_trial(cfg)  # the sweep's Tune callback logs the trial to MLflow, not its Trainer
    # [ray] same run name on a retry or restore, so the Train run resumes from its last checkpoint
    launch.fit(cfg, name=name, runs_root=train_root, callbacks=[forward_reports()])


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
            scheduler=ASHAScheduler(time_attr=RECIPES[cfg.train.recipe].progress, max_t=ASHA_MAX_T,
                                    grace_period=s.grace_period, reduction_factor=s.reduction_factor),
            trial_name_creator=_dirname, trial_dirname_creator=_dirname),
        run_config=tune.RunConfig(
            name=cfg.train.run.name, storage_path=sweeps_root(cfg),
            failure_config=tune.FailureConfig(max_failures=s.max_failures),
            callbacks=tracking.tune_callbacks(cfg.train)),
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
                          "at every report; set it to at least 1 (try 16)")


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
    # trials run in folders of their own: a relative storage path would miss the registry (a GRPO parent)
    cfg = set_path(cfg, "train.run.storage_path", launch.absolute_storage(cfg.train.run.storage_path))
    tracking.check(cfg.train.run.tracking, "train.run.tracking.", cfg.train.run.storage_path)
    launch.check_recipe(cfg.train)
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

    recipe = RECIPES[cfg.train.recipe]
    rows = rank(collect(grid, cfg, folder, recipe.progress), cfg.sweep.mode)
    best = next((row for row in rows if row.status == FINISHED), None)
    registered = None
    if best is not None:
        registered = cfg.train.run.register_as or recipe.best_name.format(task=task.name)
        adapters.register(best.adapter, registered, cfg.train.run.storage_path, keep_previous=True)
    outcome = SweepOutcome(folder=folder, metric=cfg.sweep.metric, mode=cfg.sweep.mode, progress=recipe.progress,
                           rows=rows, best=best, registered=registered, report=storage.join(folder, "report.html"))
    write(outcome, cfg)
    tracking.log_sweep(cfg.train, outcome)
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
def collect(grid, cfg: SweepConfig, folder: str, progress: str) -> list[TrialRow]:
    """One row per trial of a finished ``ResultGrid``; ``progress`` is the report key that counts it."""
    train_root = storage.join(folder, TRAIN_SUBDIR)
    rows = []
    for result in grid:
        name = PurePosixPath(result.path).name
        history = _history(result.metrics_dataframe, cfg.sweep.metric, progress)
        adapter = _finished_adapter(storage.join(train_root, name))
        status = ERROR if result.error else FINISHED if adapter else STOPPED
        rows.append(TrialRow(
            trial=name, status=status, params=resolved_params(cfg.train, cfg.space, result.config),
            metric=_last(history, "metric"), loss=_last(history, "loss"),
            progress=max((h["progress"] for h in history if h["progress"] is not None), default=0.0),
            history=[h for h in history if h["progress"] is not None], adapter=adapter,
            error=launch.failure_summary(result.error) if result.error else None))
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None


def _history(frame, metric: str, progress: str) -> list[dict[str, float | None]]:
    """Every report of a trial: its progress (None on the final report), metric and loss."""
    if frame is None:
        return []
    return [{"progress": _number(rec.get(progress)), "metric": _number(rec.get(metric)),
             "loss": _number(rec.get("loss"))} for rec in frame.to_dict("records")]


def _last(history: list[dict], key: str) -> float | None:
    return next((h[key] for h in reversed(history) if h[key] is not None), None)


def _finished_adapter(run_dir: str) -> str | None:
    """The adapter a trial's Train run wrote; only a run that finished writes one.

    Read from storage, not from Tune's last result: a trial can end before Tune has taken its
    final report off the queue, and then its last result points at an epoch checkpoint.
    """
    for name in reversed(storage.list_dirs(run_dir)):
        adapter = storage.join(run_dir, name, ADAPTER_SUBDIR)
        if name.startswith("checkpoint_") and storage.exists(storage.join(adapter, adapters.MANIFEST)):
            return adapter
    return None


