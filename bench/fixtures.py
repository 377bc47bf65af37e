"""What the serving benchmarks serve and send: two task adapters on one base, and real requests.

The ``sourcegraph`` adapter is the one the SFT benchmark trained, when it ran earlier in
the same session (same storage). Whatever is missing is made here in seconds: a LoRA of
the task's GPU config (rank, alpha, modules, base), with random weights, written and
registered through the adapter registry. Serving cost depends on an adapter's shape, not
on its values, and a `querytune train` per adapter would cost a minute of device time.
Request bodies are built from the tasks' own generated rows, the shape each route takes.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import default_storage, log
from bench.load import Request

SERVE_CONFIG = "configs/bench/serve-gpu.yaml"
TRAIN_CONFIGS = {"sourcegraph": "configs/sourcegraph/sft-gpu.yaml", "qmd": "configs/qmd/sft-gpu.yaml"}
ROUTES = {"sourcegraph": "/sourcegraph/query", "qmd": "/qmd/expand"}


def add_serving_arguments(parser, trained: bool = True) -> None:
    """What every serving benchmark takes: results folder, storage, served application and, where
    answers decide the cost (``trained``), the trained adapters to serve."""
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    parser.add_argument("--storage", default=default_storage(), help="runs and adapter registry of the session")
    parser.add_argument("--serve-config", default=SERVE_CONFIG, help="the served application")
    if trained:
        parser.add_argument("--adapter", action="append", default=[], metavar="TASK=NAME",
                            help="serve the trained adapter registered as NAME (e.g. sourcegraph-sft, from "
                                 "bench/quality.py with the same --storage) for TASK's route: answer-dependent "
                                 "speed (answer length, grammar states) needs trained weights (repeatable)")


def trained_adapters(pairs: list[str]) -> dict[str, str]:
    """``["sourcegraph=sourcegraph-sft"]`` -> ``{"sourcegraph": "sourcegraph-sft"}``, tasks checked."""
    found = {}
    for pair in pairs:
        task, sep, name = pair.partition("=")
        if not sep or task not in TRAIN_CONFIGS or not name:
            raise SystemExit(f"--adapter {pair!r}: expected TASK=NAME with TASK one of {', '.join(TRAIN_CONFIGS)}")
        found[task] = name
    return found


def ensure_adapters(storage: Path, trained: dict[str, str] | None = None) -> dict[str, float]:
    """Register the ``sourcegraph`` and ``qmd`` adapters under ``storage``: a copy of the trained
    adapter named in ``trained``, else the one already there, else a random one; seconds spent."""
    from querytune.platform import adapters

    for task, name in (trained or {}).items():
        source = storage / "adapters" / name
        if not (source / "querytune.json").is_file():
            raise SystemExit(f"--adapter {task}={name}: no adapter {name!r} registered under {storage}")
        adapters.register(source, task, str(storage))
        log(f"serving trained {name} as {task}")
    spent = {}
    for task, config in TRAIN_CONFIGS.items():
        if not (storage / "adapters" / task / "querytune.json").is_file():
            began = time.perf_counter()
            make_adapter(task, config, storage)
            spent[task] = time.perf_counter() - began
            log(f"adapter {task} made in {spent[task]:.1f}s")
    return spent


def make_adapter(task: str, config: str, storage: Path, name: str | None = None,
                 overrides: tuple[str, ...] = ()) -> None:
    """An untrained LoRA (A and B random) of the config's shape, registered as ``name`` (default: the task)."""
    from peft import get_peft_model

    from querytune.platform import adapters, models
    from querytune.platform.config import SftTrainConfig, load_config
    from querytune.platform.recipes.common import lora_config

    cfg = load_config(config, SftTrainConfig, list(overrides))
    log(f"base {cfg.model.name} at {models.resolve(cfg.model.name)}")
    model, _, base_dir = models.load_model(cfg.model.name, cfg.model.dtype, "cpu")
    lora = lora_config(cfg.lora)
    lora.init_lora_weights = False  # B = 0 would make the adapter a no-op; its cost is the same
    manifest = adapters.Manifest(task=task, recipe="sft", config=cfg.model_dump(mode="json"),
                                 data_fingerprint="untrained benchmark fixture",
                                 base=adapters.BaseRef(model=cfg.model.name, hash=models.content_hash(base_dir)))
    with tempfile.TemporaryDirectory() as tmp:
        adapters.write_adapter(Path(tmp) / task, get_peft_model(model, lora), manifest)
        adapters.register(Path(tmp) / task, name or task, str(storage))


def unconstrained(config: str) -> str:
    """A copy of a serve config whose adapters decode without their task's grammar (a temp file)."""
    import yaml

    data = yaml.safe_load(Path(config).read_text())
    for deployment in data["applications"][0]["args"]["deployments"]:
        for adapter in deployment["adapters"]:
            adapter["constrained"] = False
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump(data, handle)
    return handle.name


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
