"""What the serving benchmarks serve and send: two task adapters on one base, and real requests.

The adapters come out of `querytune train` like any other (the SFT benchmark registers
``sourcegraph`` in the same storage; a short run makes whichever is missing). Request
bodies are built from the tasks' own generated rows, the shape each route takes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import querytune_command, run_timed
from bench.load import Request

SERVE_CONFIG = "configs/bench/serve-gpu.yaml"
TRAIN_CONFIGS = {"sourcegraph": "configs/sourcegraph/sft-gpu.yaml", "qmd": "configs/qmd/sft-gpu.yaml"}
# An adapter of the right shape (rank, modules, base) in seconds: serving speed does not
# depend on how well it was trained.
QUICK_TRAIN = ["sft.max_steps=4", "data.num_examples=200", "data.val_samples=0"]
ROUTES = {"sourcegraph": "/sourcegraph/query", "qmd": "/qmd/expand"}


def ensure_adapters(storage: Path, logs: Path) -> dict[str, float]:
    """Register the ``sourcegraph`` and ``qmd`` adapters under ``storage`` if missing; seconds spent."""
    spent = {}
    for task, config in TRAIN_CONFIGS.items():
        if (storage / "adapters" / task / "querytune.json").is_file():
            continue
        sets = [f"run.storage_path={storage}", f"run.name=bench-{task}-quick", f"run.register_as={task}",
                *QUICK_TRAIN]
        command = querytune_command("train", config, *[arg for s in sets for arg in ("--set", s)])
        spent[task] = run_timed(command, logs / f"adapter-{task}.log")["wall_s"]
    return spent


def examples(task_name: str, n: int, seed: int = 7) -> list[dict[str, Any]]:
    from querytune.experiments import get_task

    return list(get_task(task_name).generate(n, seed))


def body(task_name: str, example: dict[str, Any]) -> dict[str, Any]:
    """The JSON a client sends to the task's route for this example."""
    if task_name == "sourcegraph":
        return {"query": example["request"], "candidate_repos": list(example.get("candidate_repos") or [])}
    return {"query": example["query"]}


def requests(task_names: list[str], n: int) -> list[Request]:
    """``n`` requests per task, interleaved (task A, task B, task A, ...)."""
    per_task = [[(ROUTES[t], body(t, e)) for e in examples(t, n)] for t in task_names]
    return [r for group in zip(*per_task) for r in group]
