"""Experiment tracking: MLflow runs and TensorBoard event files for train, sweep and eval.

Nothing here is a logger of its own: it switches on and points the integrations the
frameworks already have, and adds what they cannot know (our config, the adapter).

- ``querytune train``: the HF Trainer's ``MLflowCallback`` and ``TensorBoardCallback`` on
  rank 0 (``report_to``), aimed by their environment variables at one MLflow run that the
  driver opens first (params: the resolved config) and closes last (final metrics, the
  adapter as an artifact). A resumed or re-run run keeps logging into the same MLflow run.
- ``querytune sweep``: Ray Tune's ``MLflowLoggerCallback`` (one MLflow run per trial:
  params the sampled values, metrics every epoch report) and ``TBXLoggerCallback``; each
  trial's Trainer writes step-level TensorBoard files. Afterwards the best trial's MLflow
  run gets the registered adapter, the leaderboard and the report.
- ``querytune eval``: one MLflow run per eval (the spec as params, the metric means as
  metrics, the run folder as artifacts) and the means as TensorBoard scalars.

Where runs go: MLflow to ``<storage>/mlruns/`` (a SQLite store ``mlflow.db`` beside
``artifacts/``) unless ``mlflow_uri`` names a server; TensorBoard files into
``tensorboard/`` of the folder they describe. Off by default; with it off nothing here
imports MLflow, and HF's auto-detection stays off (``report_to="none"``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from querytune.platform import storage
from querytune.platform.config import (
    TRACKING_INSTALL,
    ConfigError,
    TrackingSection,
    TrainConfig,
    apply_overrides,
    set_path,
    trains_differently,
    validate,
)

INSTALL = TRACKING_INSTALL
MLRUNS_SUBDIR = "mlruns"  # under the storage root: mlflow.db + artifacts/
TENSORBOARD_SUBDIR = "tensorboard"  # in a run, trial or eval folder
MLFLOW_BATCH = 100  # MLflow takes at most this many params per call
RUN_KEY_TAG = "querytune.run_key"  # which MLflow run a `train` run (folder + config) logs into


# --------------------------------------------------------------------------- checks
def check(tracking: TrackingSection, key: str, root: str) -> None:
    """Refuse, in one line, tracking that cannot work here: a library that is missing, or a storage
    root a local store cannot live in. ``key`` prefixes the key names (``run.tracking.``)."""
    if tracking.mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise ConfigError(f"{key}mlflow=true but MLflow is not installed: {INSTALL} "
                              f"(or set {key}mlflow=false)") from None
        if tracking.mlflow_uri is None and storage.is_uri(root):
            raise ConfigError(f"{key}mlflow=true keeps runs in a SQLite file under the storage root, but "
                              f"{root} is not a folder: set {key}mlflow_uri to an MLflow server (http://HOST:5000)")
    if tracking.tensorboard:
        if not any(importlib.util.find_spec(name) for name in ("tensorboard", "tensorboardX")):
            raise ConfigError(f"{key}tensorboard=true but neither tensorboard nor tensorboardX is installed: "
                              f"{INSTALL} (or set {key}tensorboard=false)")
        if storage.is_uri(root):
            raise ConfigError(f"{key}tensorboard=true writes event files into the run folder, but {root} is not "
                              f"a folder: use a local or shared storage path, or set {key}tensorboard=false")


def from_cli(pairs: list[str]) -> TrackingSection:
    """``--tracking mlflow=true --tracking experiment=x`` as a TrackingSection (errors name the option)."""
    return validate(TrackingSection, apply_overrides({}, pairs), "--tracking")


# --------------------------------------------------------------------------- MLflow store
def tracking_uri(tracking: TrackingSection, root: str) -> str:
    """``mlflow_uri``, or the SQLite store in ``<root>/mlruns`` (MLflow 3 refuses its old file store)."""
    if tracking.mlflow_uri:
        return tracking.mlflow_uri
    folder = storage.local_path(root) / MLRUNS_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def client_for(tracking: TrackingSection, root: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(tracking, root))


def experiment_id(client, tracking: TrackingSection, name: str, root: str) -> str:
    """The experiment's id, created if new; in the local store its artifacts go under ``mlruns/artifacts``
    (MLflow's own default is ``./mlruns`` of whatever folder the command ran in)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if tracking.mlflow_uri is None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        location = (storage.local_path(root) / MLRUNS_SUBDIR / "artifacts" / safe).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created meanwhile by another run
        return client.get_experiment_by_name(name).experiment_id


def task_name(task: str) -> str:
    from querytune.experiments import get_task

    return get_task(task).name


def log_params(client, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)) for k, v in params.items()]
    for start in range(0, len(items), MLFLOW_BATCH):
        client.log_batch(run_id, params=items[start:start + MLFLOW_BATCH])


def log_metrics(client, run_id: str, metrics: dict[str, Any], step: int = 0) -> dict[str, str]:
    """Log the numbers of ``metrics``; returns the rest (strings), which are tags' business."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    numbers = [Metric(k, float(v), now, step) for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)]
    if numbers:
        client.log_batch(run_id, metrics=numbers)
    return {k: str(v) for k, v in metrics.items() if isinstance(v, str)}


def log_folder(client, run_id: str, folder: str, artifact_path: str) -> None:
    """Copy a (possibly remote) folder into the run's artifacts."""
    client.log_artifacts(run_id, str(storage.local_path(folder)), artifact_path)


# --------------------------------------------------------------------------- train
def report_to(tracking: TrackingSection) -> list[str] | str:
    """The HF Trainer's ``report_to``: only what is switched on. "none" keeps its auto-detection off,
    so an installed library (or MLFLOW_TRACKING_URI in the environment) never makes a run log."""
    chosen = [name for name, on in (("mlflow", tracking.mlflow), ("tensorboard", tracking.tensorboard)) if on]
    return chosen or "none"


def _train_params(cfg: TrainConfig) -> dict[str, Any]:
    from ray.tune.utils import flatten_dict

    params = flatten_dict(cfg.model_dump(mode="json"), delimiter=".")
    return {k: v for k, v in params.items() if trains_differently(k)}


def _run_key(cfg: TrainConfig, run_dir: str) -> str:
    """One MLflow run per Train run folder and config: a resume or re-run logs into it, while a run
    name restarted with other settings (allowed before its first checkpoint) gets a new one."""
    text = json.dumps([run_dir, _train_params(cfg)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_experiment(cfg: TrainConfig) -> str:
    return cfg.run.tracking.experiment or task_name(cfg.task)


def _train_run(cfg: TrainConfig, run_dir: str):
    """(client, run id) of the MLflow run of this Train run; opened with the config as params if new."""
    t = cfg.run.tracking
    client = client_for(t, cfg.run.storage_path)
    experiment = experiment_id(client, t, train_experiment(cfg), cfg.run.storage_path)
    key = _run_key(cfg, run_dir)
    found = client.search_runs([experiment], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'",
                               order_by=["attributes.start_time DESC"], max_results=1)
    if found:
        return client, found[0].info.run_id
    run = client.create_run(experiment, run_name=cfg.run.name, tags={
        RUN_KEY_TAG: key, "querytune.kind": "train", "querytune.recipe": cfg.recipe, "querytune.task": cfg.task,
        "querytune.run_dir": run_dir})
    log_params(client, run.info.run_id, _train_params(cfg))
    return client, run.info.run_id


def worker_env(cfg: TrainConfig, run_dir: str) -> dict[str, str]:
    """Environment of the Train workers that aims the HF Trainer's own callbacks (``report_to``) at this
    run: event files in ``<run dir>/tensorboard``, metrics into the MLflow run opened here."""
    t = cfg.run.tracking
    env: dict[str, str] = {}
    if t.tensorboard:
        env["TENSORBOARD_LOGGING_DIR"] = storage.join(run_dir, TENSORBOARD_SUBDIR)
    if t.mlflow:
        _, run_id = _train_run(cfg, run_dir)
        env.update({
            "MLFLOW_TRACKING_URI": tracking_uri(t, cfg.run.storage_path),
            "MLFLOW_EXPERIMENT_NAME": train_experiment(cfg),
            "MLFLOW_RUN_ID": run_id,
            # The params are the config (logged above). HF's own would include the temporary output_dir,
            # which changes whenever a worker restarts from a checkpoint, and MLflow refuses a changed param.
            "MLFLOW_MAX_LOG_PARAMS": "0",
            "MLFLOW_NESTED_RUN": "false",
            "HF_MLFLOW_LOG_ARTIFACTS": "false",  # the driver logs the finished adapter, not every checkpoint
        })
    return env


def log_train(cfg: TrainConfig, outcome) -> None:
    """After registration: the run's final metrics and its adapter into its MLflow run, which ends."""
    if not cfg.run.tracking.mlflow:
        return
    client, run_id = _train_run(cfg, storage.join(cfg.run.storage_path, cfg.run.name))
    strings = log_metrics(client, run_id, outcome.metrics, step=int(outcome.metrics.get("steps") or 0))
    for key, value in {**strings, "querytune.adapter": outcome.name}.items():
        client.set_tag(run_id, key, value[:5000])
    log_folder(client, run_id, outcome.adapter, "adapter")
    client.set_terminated(run_id, "FINISHED")


# --------------------------------------------------------------------------- sweep
def for_trial(cfg: TrainConfig) -> TrainConfig:
    """A sweep trial's Train run: the sweep's Tune callback logs it to MLflow (one run per trial), so its
    Trainer does not; its step-level TensorBoard files stay on."""
    return set_path(cfg, "run.tracking", {"tensorboard": cfg.run.tracking.tensorboard})


def sweep_experiment(train: TrainConfig) -> str:
    return train.run.tracking.experiment or f"{task_name(train.task)}-sweep-{train.run.name}"


def tune_callbacks(train: TrainConfig) -> list:
    """Tune callbacks of a sweep whose trials run ``train``: MLflow (one run per trial) and TensorBoard
    (Tune adds its TensorBoard logger by itself too, unless TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1).
    W&B stays switched on by WANDB_PROJECT, as Ray's own integration reads it."""
    t = train.run.tracking
    callbacks = []
    if t.mlflow:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        name = sweep_experiment(train)
        experiment_id(client_for(t, train.run.storage_path), t, name, train.run.storage_path)  # its artifact folder
        callbacks.append(MLflowLoggerCallback(tracking_uri=tracking_uri(t, train.run.storage_path),
                                              experiment_name=name,
                                              tags={"querytune.kind": "trial", "querytune.sweep": train.run.name}))
    if t.tensorboard:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    if os.environ.get("WANDB_PROJECT"):
        if importlib.util.find_spec("wandb") is None:
            raise ConfigError("WANDB_PROJECT is set, which logs sweeps to W&B, but wandb is not installed: "
                              "pip install wandb (or unset WANDB_PROJECT)")
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks.append(WandbLoggerCallback(project=os.environ["WANDB_PROJECT"], group=train.run.name))
    return callbacks


def log_sweep(train: TrainConfig, outcome) -> None:
    """Each trial's MLflow run gets its status and the values it trained with; the best one the registered
    adapter, the leaderboard and the report."""
    t = train.run.tracking
    if not t.mlflow:
        return
    client = client_for(t, train.run.storage_path)
    experiment = experiment_id(client, t, sweep_experiment(train), train.run.storage_path)
    for row in outcome.rows:
        found = client.search_runs([experiment], filter_string=f"tags.trial_name = '{row.trial}'",
                                   order_by=["attributes.start_time DESC"], max_results=1)
        if not found:
            continue
        run_id = found[0].info.run_id
        client.set_tag(run_id, "querytune.status", row.status)
        for key, value in row.params.items():  # a `mult` key: Tune logged the factor, this is the product
            client.set_tag(run_id, f"querytune.value.{key}", str(value))
        if row is outcome.best:
            client.set_tag(run_id, "querytune.best", "true")
            client.set_tag(run_id, "querytune.adapter", str(outcome.registered))
            log_folder(client, run_id, row.adapter, "adapter")
            if not storage.is_uri(outcome.folder):
                for name in ("leaderboard.json", "report.html"):
                    if (Path(outcome.folder) / name).is_file():
                        client.log_artifact(run_id, str(Path(outcome.folder) / name), "sweep")


# --------------------------------------------------------------------------- eval
def summary_metrics(summary: dict) -> dict[str, float]:
    """The numbers of an eval summary worth a chart: metric means, parse rate, latency, cost."""
    found: dict[str, Any] = {name: m.get("mean") for name, m in summary.get("metrics", {}).items()}
    found["parse_ok"] = summary.get("parse", {}).get("ok")
    found["n_errors"] = summary.get("n_errors")
    found.update({f"latency_{k}": v for k, v in summary.get("latency", {}).items()})
    if "cost" in summary:
        found["usd_per_million_queries"] = summary["cost"].get("usd_per_million_queries")
    return {k: float(v) for k, v in found.items() if isinstance(v, (int, float)) and not math.isnan(v)}


def log_eval(spec, folder: Path) -> None:
    """One MLflow run per eval (spec, metric means, the run folder) and the means as TensorBoard scalars."""
    t = spec.tracking
    if not (t.mlflow or t.tensorboard):
        return
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    numbers = summary_metrics(summary)
    if t.mlflow:
        client = client_for(t, spec.storage)
        experiment = experiment_id(client, t, t.experiment or summary["task"], spec.storage)
        run = client.create_run(experiment, run_name=folder.name, tags={
            "querytune.kind": "eval", "querytune.task": summary["task"],
            "querytune.scorer_version": str(summary.get("scorer_version"))})
        params = {k: v for k, v in spec.model_dump(mode="json").items() if v is not None and k != "tracking"}
        log_params(client, run.info.run_id, params)
        log_metrics(client, run.info.run_id, numbers)
        log_folder(client, run.info.run_id, str(folder), "eval")
        client.set_terminated(run.info.run_id, "FINISHED")
    if t.tensorboard:
        writer = summary_writer(folder / TENSORBOARD_SUBDIR)
        for name, value in numbers.items():
            writer.add_scalar(f"eval/{name}", value, 0)
        writer.add_text("spec", json.dumps(summary.get("spec", {}), indent=2, default=str))
        writer.close()


def summary_writer(folder: Path):
    """torch's SummaryWriter (the ``tensorboard`` package), else tensorboardX's: HF's own order."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from tensorboardX import SummaryWriter
    return SummaryWriter(log_dir=str(folder))
