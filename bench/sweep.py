"""Benchmark 5: a 27-configuration sweep with ASHA and fractional GPUs, `querytune sweep` wall time.

Runs the sweep config (default ``configs/sourcegraph/sweep-gpu.yaml``) on the random-weight
Qwen3-1.7B architecture and the SFT benchmark's rows (969 training examples of realistic
length), 27 samples, and reads the leaderboard: trials finished, stopped early by ASHA, failed.

    python -m bench.sweep [--config FILE] [--samples 27] [--out DIR] [--storage DIR] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from bench.common import default_storage, querytune_command, results_dir, run_timed, table, write

CONFIG = "configs/sourcegraph/sweep-gpu.yaml"
BENCH_SETS = ["train.model.name=random-qwen3-1.7b", "train.data.num_examples=1280", "train.data.max_train=969"]
GOAL_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG, help="sweep config")
    parser.add_argument("--samples", type=int, default=27, help="configurations tried")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override of the sweep config")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    parser.add_argument("--storage", default=default_storage(), help="runs and adapter registry of the session")
    args = parser.parse_args()
    out, storage = results_dir(args.out), Path(args.storage)

    name = f"bench-sweep-{int(time.time())}"
    sets = [*BENCH_SETS, *args.sets, f"sweep.num_samples={args.samples}", f"train.run.storage_path={storage}",
            f"train.run.name={name}"]
    timed = run_timed(querytune_command("sweep", args.config, *[a for s in sets for a in ("--set", s)]),
                      out / "sweep-querytune.log")
    board = json.loads((storage / "sweeps" / name / "leaderboard.json").read_text())
    trials = board["trials"]
    statuses = Counter(t["status"] for t in trials)
    result = {**timed, "samples": args.samples, "statuses": dict(statuses), "goal_s": GOAL_S, "leaderboard": board}
    write(out, "sweep", result)
    print(table(f"Sweep of {args.samples} configurations ({args.config})", ["wall s", "trials", "statuses", "goal s"],
                [[timed["wall_s"], len(trials), dict(statuses), GOAL_S]]))


if __name__ == "__main__":
    main()
