"""Benchmark 3: replica cold start, from launching `querytune serve` to its first answer.

Weights are on local disk. Run twice in one call: first with an empty compile cache
(``$VLLM_CACHE_ROOT``; the Triton, Inductor and FlashInfer caches are pointed inside it too), then
with the cache the first run left. The log of each start is also its profile: the
seconds at which Ray, Serve, weight loading, compilation and CUDA graphs finished.

    VLLM_CACHE_ROOT=/tmp/vllm-cache python -m bench.cold_start [--out DIR] [--storage DIR]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.common import log, results_dir, table, write
from bench.server import PHASES, serving

GOAL_S = 15.0


def cache_env(cache: Path) -> dict[str, str]:
    """Every compile cache of vLLM, Inductor, Triton and FlashInfer inside one folder."""
    return {**os.environ, "VLLM_CACHE_ROOT": str(cache), "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
            "TRITON_CACHE_DIR": str(cache / "triton"), "FLASHINFER_WORKSPACE_BASE": str(cache / "flashinfer")}


def start_once(label: str, config: str, storage: Path, cache: Path, out: Path) -> dict[str, Any]:
    was_empty = not cache.exists() or not any(cache.iterdir())
    probe = fixtures.requests(["sourcegraph"], 1)[0]
    with serving(config, [f"storage_path={storage}"], out / f"cold-start-{label}.log", probe,
                 env=cache_env(cache)) as server:
        return {"first_answer_s": server.first_answer_s, "cache_was_empty": was_empty, "phases_s": server.marks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fixtures.add_serving_arguments(parser, trained=False)
    parser.add_argument("--cache", default=os.environ.get("VLLM_CACHE_ROOT") or tempfile.mkdtemp(),
                        help="compile cache folder (default $VLLM_CACHE_ROOT)")
    args = parser.parse_args()
    out, storage, cache = results_dir(args.out), Path(args.storage), Path(args.cache)

    result: dict[str, Any] = {"adapters_made_s": fixtures.ensure_adapters(storage), "goal_s": GOAL_S,
                              "cache": str(cache)}
    for label in ("cold-cache", "warm-cache"):
        log(f"start with a {label}")
        result[label] = start_once(label, args.serve_config, storage, cache, out)
        write(out, "cold_start", result)
    write(out, "cold_start", result)

    runs = [result["cold-cache"], result["warm-cache"]]
    rows = [[phase, *[f"{r['phases_s'][phase]:.1f}" if phase in r["phases_s"] else "-" for r in runs]]
            for phase in PHASES]
    rows.append(["first answer", *[r["first_answer_s"] for r in runs]])
    rows.append(["goal", "-", GOAL_S])
    print(table("Replica cold start: seconds after launching `querytune serve`",
                ["phase", "cold cache" + ("" if runs[0]["cache_was_empty"] else " (cache was not empty)"),
                 "warm cache"], rows))


if __name__ == "__main__":
    main()
