"""Benchmark 6: GRPO time per step, Qwen3-0.6B architecture, QMD reward, vLLM rollouts.

Runs `querytune train configs/qmd/grpo-gpu.yaml` for ``--steps`` steps from an SFT parent
(registered by the fixture: a LoRA of the SFT config's shape on the same base), then
extrapolates the original run length: wall + (200 - steps) x seconds per step.

    python -m bench.grpo [--steps 20] [--out DIR] [--storage DIR] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench import fixtures
from bench.common import default_storage, log, querytune_command, results_dir, run_timed, table, write

CONFIG = "configs/qmd/grpo-gpu.yaml"
PARENT_CONFIG = "configs/qmd/sft-gpu.yaml"
GOAL_STEPS, GOAL_S = 200, 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="GRPO steps actually run")
    parser.add_argument("--config", default=CONFIG, help="GRPO train config")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override of the GRPO config")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    parser.add_argument("--storage", default=default_storage(), help="runs and adapter registry of the session")
    args = parser.parse_args()
    out, storage = results_dir(args.out), Path(args.storage)

    from querytune.platform.config import GrpoTrainConfig, load_config

    cfg = load_config(args.config, GrpoTrainConfig, args.sets)
    if not (storage / "adapters" / cfg.grpo.parent / "querytune.json").is_file():
        fixtures.make_adapter(cfg.task, PARENT_CONFIG, storage, name=cfg.grpo.parent,
                              overrides=(f"model.name={cfg.model.name}",))
    log(f"parent {cfg.grpo.parent} ready")
    register_as = f"bench-grpo-{int(time.time())}"
    sets = [*args.sets, f"grpo.steps={args.steps}", f"run.storage_path={storage}", f"run.name={register_as}"]
    timed = run_timed(querytune_command("train", args.config, *[a for s in sets for a in ("--set", s)]),
                      out / "grpo-querytune.log")
    metrics = json.loads((storage / "adapters" / register_as / "querytune.json").read_text())["metrics"]
    step_s = metrics["train_runtime_s"] / metrics["steps"]
    projected = timed["wall_s"] + (GOAL_STEPS - metrics["steps"]) * step_s
    result = {**timed, "steps": metrics["steps"], "train_s": metrics["train_runtime_s"], "step_s": step_s,
              "projected_200_steps_s": projected, "goal_s": GOAL_S, "metrics": metrics}
    write(out, "grpo", result)
    print(table(f"GRPO {cfg.model.name}, {cfg.grpo.batch_size} completions/step, vLLM={cfg.grpo.use_vllm}",
                ["steps run", "wall s", "s/step", "200 steps (projected) s", "goal s"],
                [[metrics["steps"], timed["wall_s"], step_s, projected, GOAL_S]]))


if __name__ == "__main__":
    main()
