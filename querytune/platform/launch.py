"""Launching a training run on Ray Train, and registering what it produced.

Every recipe (``platform/recipes/``) and the sweep's trials go through ``fit``: one
``TorchTrainer`` per run, named after the run so that re-running resumes it, with
``FailureConfig`` retries from the last checkpoint. A run's final report carries the
finished adapter as its checkpoint; ``register_result`` copies it into the registry.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from querytune.platform import adapters, data, storage, tracking
from querytune.platform.config import ConfigError, ScalingSection, TrainConfig, set_path, trains_differently
from querytune.platform.recipes import RECIPES
from querytune.platform.recipes.common import ADAPTER_SUBDIR

log = logging.getLogger(__name__)

RUN_CONFIG = "querytune-run.yaml"  # in the Ray Train run folder: the config the run name started with


class WorkerError(RuntimeError):
    """A training function's error in one line; its full traceback is in the file the message names."""


@dataclass
class Outcome:
    adapter: str
    name: str
    metrics: dict[str, Any]


def ensure_ray() -> None:
    """Join the cluster of `ray job submit` (RAY_ADDRESS) or start a local one."""
    import ray

    if not ray.is_initialized():
        ray.init(log_to_driver=True, configure_logging=False)


def run_needs(scaling: ScalingSection, driver_cpus: float = 0) -> dict[str, float]:
    """Resources one Train run takes: its workers' (``scaling``) plus a driver's CPUs (a sweep trial's)."""
    needs = {"CPU": driver_cpus + scaling.num_workers * scaling.cpus_per_worker}
    if scaling.use_gpu:
        needs["GPU"] = scaling.num_workers * (scaling.gpus_per_worker or 1)
    return needs


def cluster_capacity() -> tuple[dict[str, float], bool]:
    """(the most of each resource the cluster can have, whether that is final).

    Final: the autoscaler's maximum where it publishes one, or what the nodes have now on a local
    cluster this process started. Elsewhere what the nodes have now is a lower bound: an autoscaler
    (or a person) may still add nodes.
    """
    import ray
    from ray._private import worker
    from ray._private.state import state

    try:
        most = state.get_max_resources_from_cluster_config()
    except Exception:  # noqa: BLE001 (a GCS without the autoscaler's key)
        most = None
    if most is not None:
        return {k: float(v) for k, v in most.items()}, True
    started_here = worker._global_node is not None and worker._global_node.is_head()
    return {k: float(v) for k, v in ray.cluster_resources().items()}, started_here


def check_fits(scaling: ScalingSection) -> None:
    """A run the cluster can never hold would wait for its workers forever: refuse it, naming the keys
    (where the cluster may still grow, say so and let it wait)."""
    have, final = cluster_capacity()
    keys = {"CPU": f"scaling.num_workers={scaling.num_workers} x scaling.cpus_per_worker={scaling.cpus_per_worker:g}",
            "GPU": f"scaling.use_gpu=true, scaling.num_workers={scaling.num_workers} x scaling.gpus_per_worker="
                   f"{scaling.gpus_per_worker or 1:g}"}
    for resource, amount in run_needs(scaling).items():
        if amount <= have.get(resource, 0):
            continue
        if not final:
            log.warning("%s needs %g %s but the Ray cluster has %g now: the run waits until nodes that have "
                        "them join", keys[resource], amount, resource, have.get(resource, 0))
            continue
        raise ConfigError(f"{keys[resource]} needs {amount:g} {resource} but this Ray cluster can have at most "
                          f"{have.get(resource, 0):g}: lower them, or run on a cluster with more "
                          f"{resource} (RAY_ADDRESS / ray job submit)")


def absolute_storage(path: str) -> str:
    return path if storage.is_uri(path) else str(Path(path).expanduser().resolve())


def fit(cfg: TrainConfig, *, name: str | None = None, runs_root: str | None = None, callbacks: list | None = None):
    """Run the config's recipe on ``cfg.scaling.num_workers`` Ray Train workers; returns ray.train.Result.

    The Train run is ``<runs_root>/<name>`` (default: ``run.storage_path`` and ``run.name``); the
    registry a GRPO parent is found in stays ``run.storage_path`` (a sweep keeps its trials' runs apart).
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ensure_ray()
    # Workers run in other folders: a relative storage path would miss the registry (a GRPO parent).
    cfg = set_path(cfg, "run.storage_path", absolute_storage(cfg.run.storage_path))
    scaling = cfg.scaling
    per_worker: dict[str, float] = {"CPU": scaling.cpus_per_worker}
    if scaling.use_gpu:
        per_worker["GPU"] = scaling.gpus_per_worker or 1
    runs_root = runs_root or cfg.run.storage_path
    run_dir = storage.join(runs_root, name or cfg.run.name)
    trainer = TorchTrainer(
        logged_errors(RECIPES[cfg.recipe].loop),
        train_loop_config={"cfg": cfg.model_dump(mode="json"), "run_dir": run_dir},
        scaling_config=ScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                     resources_per_worker=per_worker),
        run_config=RunConfig(
            name=name or cfg.run.name,
            storage_path=runs_root,
            failure_config=FailureConfig(max_failures=cfg.run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=callbacks or [],
            worker_runtime_env={"env_vars": {**_forwarded_env(), **tracking.worker_env(cfg, run_dir)}},
        ),
    )
    return trainer.fit()


def logged_errors(loop: Callable[[dict], None]) -> Callable[[dict], None]:
    """``loop``, with any error written in full to ``<run dir>/error-rank<N>.log`` and raised again as one
    line naming that file: Ray prints a worker's traceback several times over (148 lines for an
    unknown model id), which buries the reason."""
    @functools.wraps(loop)
    def run(config: dict) -> None:
        try:
            loop(config)
        except Exception as err:  # noqa: BLE001 (re-raised, shorter)
            import ray.train

            path = storage.join(config["run_dir"], f"error-rank{ray.train.get_context().get_world_rank()}.log")
            storage.write_text(path, traceback.format_exc())
            reason = " ".join(str(err).strip().splitlines()[:2])[:400]
            raise WorkerError(f"{type(err).__name__}: {reason} (full traceback: {path})") from None

    return run


def failure_summary(err: Exception) -> str:
    """The one line a failed run's workers raised (see ``logged_errors``), else the error's last line."""
    found = re.findall(rf"{WorkerError.__name__}: (.*)", str(err))
    return found[0] if found else (str(err).strip().splitlines() or [type(err).__name__])[-1]


def _forwarded_env() -> dict[str, str]:
    """Workers' environment: ours, plus Ray Train's print patch off. That patch sends every ``print`` to
    the log even while a library captures stdout, and dill (hashing each ``datasets.map`` function)
    captures a ``dis.dis`` of the function's bytecode: 933 of a train log's 1,359 lines."""
    keys = ("QUERYTUNE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "QUERYTUNE_TEST_CRASH_AT_STEP")
    return {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0", **{k: os.environ[k] for k in keys if k in os.environ}}


def register_result(result, cfg: TrainConfig) -> Outcome:
    """Copy the run's final adapter into the registry (atomic; manifest last)."""
    if result.error:
        raise RuntimeError(f"training run {cfg.run.name!r} failed: {result.error}")
    if result.checkpoint is None:
        raise RuntimeError(f"training run {cfg.run.name!r} finished without an adapter checkpoint")
    name = cfg.run.register_as or cfg.run.name
    with result.checkpoint.as_directory() as folder:
        adapter_dir = Path(folder) / ADAPTER_SUBDIR
        if not adapter_dir.is_dir():
            raise RuntimeError(f"the last checkpoint of {cfg.run.name!r} holds no finished adapter")
        path = adapters.register(adapter_dir, name, cfg.run.storage_path)
    metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float, str))}
    return Outcome(adapter=path, name=name, metrics=metrics)


def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {prefix + key: value})
    return out


def check_same_run(cfg: TrainConfig) -> None:
    """A run name resumes its run (or re-reports its finished adapter): with other settings, that would
    register the old adapter as if it had been trained with them. Refuse, naming the keys that differ.

    Keys the record has and the config's model has not (another recipe's sections, in records written
    before each recipe had its own model) cannot change what the run trains and are not compared."""
    import yaml

    run_dir = storage.join(cfg.run.storage_path, cfg.run.name)
    record = storage.join(run_dir, RUN_CONFIG)
    now = cfg.model_dump(mode="json")
    trained = any(name.startswith("checkpoint_") for name in storage.list_dirs(run_dir))
    if not trained or not storage.exists(record):  # nothing to resume yet: any settings may (re)start it
        storage.write_text(record, yaml.safe_dump(now, sort_keys=False))
        return
    before, after = flat(yaml.safe_load(storage.read_text(record))), flat(now)
    differ = sorted(k for k in after if trains_differently(k) and before.get(k) != after.get(k))
    if differ:
        changes = ", ".join(f"{k} ({before.get(k)!r} -> {after.get(k)!r})" for k in differ)
        raise ConfigError(f"run.name={cfg.run.name!r} already ran with other settings ({record}): {changes}. "
                          "Set run.name to start a new run, or use the run's settings to resume it")


def train(cfg: TrainConfig) -> Outcome:
    """`querytune train`: the recipe the config names, then registration."""
    from querytune.experiments import get_task

    task = get_task(cfg.task)  # fail here, not in every retried worker
    cfg = set_path(cfg, "run.storage_path", absolute_storage(cfg.run.storage_path))
    tracking.check(cfg.run.tracking, "run.tracking.", cfg.run.storage_path)
    if cfg.data.source:  # a bad file fails here too, naming file and line; workers run in other folders
        cfg = set_path(cfg, "data.source", str(Path(cfg.data.source).expanduser().resolve()))
        data.build(task, cfg.data)
    else:
        data.check_options(task, cfg.data)
    check_recipe(cfg)
    ensure_ray()
    check_fits(cfg.scaling)
    check_same_run(cfg)
    outcome = register_result(fit(cfg), cfg)
    tracking.log_train(cfg, outcome)
    return outcome


def check_recipe(cfg: TrainConfig) -> None:
    """The recipe's own driver-side check (a GRPO parent of another task or base), so that it fails
    here and not in every retried worker."""
    check = RECIPES[cfg.recipe].check
    if check is not None:
        check(cfg)
