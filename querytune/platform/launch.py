"""Launching a training run on Ray Train, and registering what it produced.

Both recipes (SFT, GRPO) and the sweep's trials go through ``fit``: one
``TorchTrainer`` per run, named after the run so that re-running resumes it, with
``FailureConfig`` retries from the last checkpoint. A run's final report carries the
finished adapter as its checkpoint; ``register_result`` copies it into the registry.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from querytune.platform import adapters, data, storage
from querytune.platform.config import TrainConfig, set_path

ADAPTER_SUBDIR = "adapter"  # inside the final checkpoint
HF_STATE_SUBDIR = "checkpoint"  # inside epoch checkpoints: the HF Trainer's resumable state


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


def absolute_storage(path: str) -> str:
    return path if storage.is_uri(path) else str(Path(path).expanduser().resolve())


def fit(cfg: TrainConfig, loop: Callable[[dict], None], *, name: str | None = None, callbacks: list | None = None):
    """Run ``loop`` on ``cfg.scaling.num_workers`` Ray Train workers; returns ray.train.Result."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ensure_ray()
    # Workers run in other folders: a relative storage path would miss the registry (a GRPO parent).
    cfg = set_path(cfg, "run.storage_path", absolute_storage(cfg.run.storage_path))
    scaling = cfg.scaling
    per_worker: dict[str, float] = {"CPU": scaling.cpus_per_worker}
    if scaling.use_gpu:
        per_worker["GPU"] = scaling.gpus_per_worker or 1
    trainer = TorchTrainer(
        loop,
        train_loop_config={"cfg": cfg.model_dump(mode="json")},
        scaling_config=ScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                     resources_per_worker=per_worker),
        run_config=RunConfig(
            name=name or cfg.run.name,
            storage_path=cfg.run.storage_path,
            failure_config=FailureConfig(max_failures=cfg.run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=callbacks or [],
            worker_runtime_env={"env_vars": _forwarded_env()},
        ),
    )
    return trainer.fit()


def _forwarded_env() -> dict[str, str]:
    keys = ("QUERYTUNE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "QUERYTUNE_TEST_CRASH_AT_STEP")
    return {k: os.environ[k] for k in keys if k in os.environ}


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


def train(cfg: TrainConfig) -> Outcome:
    """`querytune train`: the recipe the config names, then registration."""
    from querytune.experiments import get_task

    task = get_task(cfg.task)  # fail here, not in every retried worker
    if cfg.data.source:  # a bad file fails here too, naming file and line; workers run in other folders
        cfg = set_path(cfg, "data.source", str(Path(cfg.data.source).expanduser().resolve()))
        data.build(task, cfg.data)
    if cfg.recipe == "sft":
        from querytune.platform.train_sft import train_loop
    else:
        from querytune.platform.train_grpo import open_parent, train_loop

        open_parent(cfg)  # a parent of another task or base fails here, not in every retried worker
    return register_result(fit(cfg, train_loop), cfg)
