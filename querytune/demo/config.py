"""The demo's YAML: which config each stage runs, the HTTP requests, the stage budgets.

Each referenced YAML is read from disk once, when the demo config validates; the stages'
configs are then validated again from that parsed copy with the run folder's storage paths
(``resolve``), so a typo in any of them fails before the first stage starts.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from querytune.platform import config as platform_config
from querytune.platform.config import GrpoTrainConfig, Strict
from querytune.platform.sweep_config import SweepConfig

MODELS = ("base", "SFT", "GRPO")  # the columns of the summary
HEADLINE = "score"  # every task's headline metric (experiments/base.py)
HTTP_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 600.0
ROUTES = {"sourcegraph": "/sourcegraph/query", "qmd": "/qmd/expand"}

M = TypeVar("M", bound=BaseModel)


class DemoError(RuntimeError):
    """A stage that could not produce what the next one needs; the message says which."""


class ConfigRef(Strict):
    """Another YAML (under configs/demo/) and ``key=value`` overrides, exactly like ``--set``."""

    file: str = Field(..., description="YAML path, relative to the directory the demo runs in")
    set: list[str] = Field(default_factory=list, description="overrides applied to the file, e.g. sweep.num_samples=2")
    _data: dict | None = PrivateAttr(None)  # the file as parsed, read on first use

    def load(self, model: type[M], extra: list[str] | None = None) -> M:
        """The file validated as ``model``, with ``set`` and then ``extra`` overrides applied."""
        if self._data is None:
            self._data = platform_config.read_yaml(self.file)
        data = platform_config.apply_overrides(copy.deepcopy(self._data), [*self.set, *(extra or [])])
        return platform_config.validate(model, data, self.file)


class TaskPlan(Strict):
    sweep: ConfigRef = Field(..., description="a sweep YAML (SweepConfig); its train.task is the task")
    eval_limit: int | None = Field(None, ge=1, description="dev examples each model answers; None = all")
    max_new_tokens: int = Field(64, ge=1, description="answer budget in the eval")


class DemoRequest(Strict):
    route: Literal["sourcegraph", "qmd"] = Field(..., description="POST /sourcegraph/query or /qmd/expand")
    query: str = Field(..., min_length=1, description="what the user typed")
    candidate_repos: list[str] = Field(default_factory=list, description="sourcegraph only: repos it may filter on")


class DemoConfig(Strict):
    """`querytune demo CONFIG`: which configs each stage runs, the HTTP requests, the stage budgets."""

    storage_path: str = Field("runs/demo", description="each run writes <storage_path>/<date-time>/")
    ray_cpus: int | None = Field(None, ge=1, description="logical CPUs of the local Ray cluster (None = the "
                                 "cores); sweep trials' drivers only wait on their workers, so logical CPUs "
                                 "beyond the cores for them keep the cores for workers. Ignored when "
                                 "joining RAY_ADDRESS")
    worker_logs: bool = Field(False, description="forward Ray workers' logs (training bars) to this terminal")
    tasks: list[TaskPlan] = Field(..., min_length=1, description="one sweep and one eval per task")
    grpo: ConfigRef | None = Field(None, description="a GRPO train YAML whose grpo.parent is a sweep's "
                                   "<task>-best; None = no GRPO stage")
    eval_backend: Literal["hf", "vllm"] = Field("hf", description="generation backend of the evals (vllm: GPU)")
    serve: ConfigRef = Field(..., description="a serve YAML (ServeFile) serving the <task>-best adapters")
    requests: list[DemoRequest] = Field(..., min_length=1, description="sent over HTTP once the app is up")
    budget_s: dict[str, float] = Field(..., description="expected seconds per stage (keys: the stage names); "
                                       "the live ETA is their sum")
    _stages: list[str] = PrivateAttr(default_factory=list)  # filled by _stages_fit from the referenced YAMLs

    @model_validator(mode="after")
    def _stages_fit(self) -> "DemoConfig":
        tasks = [plan.sweep.load(SweepConfig).train.task for plan in self.tasks]
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks: each task once, got sweeps of {tasks}; merge the duplicates")
        grpo_task = self.grpo.load(GrpoTrainConfig).task if self.grpo else None
        if self.grpo and grpo_task not in tasks:
            raise ValueError(f"grpo.file={self.grpo.file!r} trains task {grpo_task!r}, which no sweep here trains "
                             f"(tasks: {tasks}); its parent <task>-best would not exist")
        self._stages = ["start", "data", *(f"sweep {t}" for t in tasks), *([f"grpo {grpo_task}"] if grpo_task else []),
                        *(f"eval {t}" for t in tasks), "serve", "report"]
        missing = [s for s in self._stages if s not in self.budget_s]
        unknown = [s for s in self.budget_s if s not in self._stages]
        if missing or unknown:
            raise ValueError(f"budget_s: needs exactly the stages {self._stages} (missing {missing}, "
                             f"unknown {unknown}); e.g. budget_s: {{{self._stages[0]}: 30, ...}}")
        return self


def stage_names(cfg: DemoConfig) -> list[str]:
    """The stages in the order they run (one sweep and one eval per task, GRPO where configured)."""
    return list(cfg._stages)


@dataclass
class Plan:
    """Every stage's config, resolved and validated before anything starts (a typo costs seconds, not a sweep)."""

    sweeps: dict[str, SweepConfig]  # task -> its sweep
    grpo: GrpoTrainConfig | None
    serve: Any  # ServeFile


def resolve(cfg: DemoConfig, folder: Path) -> Plan:
    """Each referenced config with its overrides, every storage path pointed at this run's folder."""
    from querytune.serve.config import load_serve_file

    sweeps = {}
    for plan in cfg.tasks:
        sweep = plan.sweep.load(SweepConfig, [f"train.run.storage_path={folder}"])
        sweeps[sweep.train.task] = sweep
    grpo = cfg.grpo.load(GrpoTrainConfig, [f"run.storage_path={folder}"]) if cfg.grpo else None
    serve = load_serve_file(cfg.serve.file, [*cfg.serve.set, f"storage_path={folder}"])
    return Plan(sweeps, grpo, serve)
