"""What every benchmark shares: where results go, which machine made them, percentiles, tables.

Each benchmark prints a markdown table last (the device tool returns the end of the
output) and writes the full numbers as JSON into the results folder: ``--out``, else
``$OUT`` (set on the lent GPU machine), else ``runs/bench/`` (git-ignored).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
VERSIONED = ("torch", "transformers", "peft", "trl", "vllm", "ray", "xgrammar", "datasets", "accelerate")


def results_dir(given: str | None = None) -> Path:
    """The folder a benchmark writes into (created)."""
    path = Path(given or os.environ.get("OUT") or REPO / "runs" / "bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


STARTED = time.perf_counter()


def log(message: str) -> None:
    """A progress line with the seconds since the benchmark started (the session log is its profile)."""
    print(f"[bench +{time.perf_counter() - STARTED:7.1f}s] {message}", flush=True)


def default_storage() -> str:
    """Runs and adapters shared by the benchmarks of one session ($BENCH_STORAGE), so that the
    serving benchmarks serve the adapter the SFT benchmark trained."""
    return os.environ.get("BENCH_STORAGE", "/tmp/bench-runs")


def environment() -> dict[str, Any]:
    """Date, GPU (nvidia-smi's own words), CPU count and library versions: the context of a number."""
    env: dict[str, Any] = {"date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        query = "name,driver_version,memory.total,clocks.max.sm"
        env["gpu"] = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        env["gpu"] = "none"
    for name in VERSIONED:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = None
    return env


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """p50/p95/p99 (nearest rank on the sorted values) plus mean, min, max and n."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    picks = {f"p{p}": ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] for p in points}
    return {**picks, "mean": statistics.fmean(ordered), "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def run_timed(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command to completion; wall seconds. Each line of ``log`` starts with the seconds
    since launch, so the log is also the profile of where the time went.

    Raises on a non-zero exit so that a broken run never becomes a number.
    """
    began = time.perf_counter()
    with open(log, "w") as handle, subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                    env=env, cwd=REPO, text=True, errors="replace") as proc:
        for line in proc.stdout:
            handle.write(f"{time.perf_counter() - began:8.2f} {line}")
        code = proc.wait()
    seconds = time.perf_counter() - began
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited with {code}; end of {log}:\n{tail}")
    return {"command": " ".join(command), "wall_s": seconds}


def querytune_command(*args: str) -> list[str]:
    """The `querytune` command, run by this interpreter (the entry point of the installed script)."""
    return [sys.executable, "-m", "querytune.cli", *args]


def write(folder: Path, name: str, result: dict[str, Any]) -> Path:
    """``<folder>/<name>.json`` with the environment added."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **result}, indent=2, default=str))
    return path


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats get 4 significant digits."""
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


#: the server's stages in the order a request meets them (querytune.serve.timing), then what lies outside it
STAGES = ("outside_app", "app", "prompt", "call", "engine", "queue", "ttft", "parse")


def stage_table(title: str, labelled: Sequence[tuple[Any, dict[str, Any]]]) -> str:
    """p50 ms of each server stage beside the client's round trip, one row per labelled load summary."""
    rows = [[label, summary["latency_ms"].get("p50", "-"),
             *(summary.get("stages_ms", {}).get(stage, {}).get("p50", "-") for stage in STAGES)]
            for label, summary in labelled]
    return table(title, ["", "client", *STAGES], rows)

