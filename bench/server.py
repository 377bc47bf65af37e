"""A `querytune serve` process for the serving benchmarks (or vLLM's own server: ``process``, used by
``bench/vllm_server.py``): start, time the first answer, stop.

The clock starts when the process is launched and stops at the first 200 answer of a
real task request, so "cold start" counts everything a new replica pays: Python and
Ray start-up, Serve, weight loading, vLLM compilation (or its cache) and CUDA graphs.
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from bench.common import REPO, querytune_command

DEFAULT_URL = "http://127.0.0.1:8000"
START_TIMEOUT_S = 420


@dataclass
class Server:
    url: str
    first_answer_s: float
    log: Path
    marks: dict[str, float] = field(default_factory=dict)  # log phrase -> seconds after launch


def _pump(proc: subprocess.Popen, log: Path, began: float, marks: dict[str, float], phrases: dict[str, str]) -> None:
    with open(log, "w") as handle:
        for line in proc.stdout:
            now = time.perf_counter() - began
            handle.write(f"{now:8.2f} {line}")
            handle.flush()
            for name, phrase in phrases.items():
                if name not in marks and phrase in line:
                    marks[name] = now


def _first_answer(url: str, path: str, body: dict[str, Any], proc: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.perf_counter() + START_TIMEOUT_S
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, proc.args[:4]))} ... exited with {proc.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if client.post(path, json=body).status_code == 200:
                    return
            time.sleep(0.05)
    raise TimeoutError(f"no answer from {url}{path} within {START_TIMEOUT_S} s; see {log}")


# Log lines that mark the phases of a start (first occurrence), in order.
PHASES = {"ray_up": "Proxy starting on node", "serve_started": "Started Serve",
          "engine_config": "Initializing a V1 LLM engine", "weights_loaded": "Model loading took",
          "compiled": "torch.compile takes", "graphs_captured": "Graph capturing finished",
          "engine_ready": "init engine", "serving": "querytune is serving"}


def wait_for_free_gpu(limit_mib: int = 4096, timeout_s: float = 60) -> None:
    """Wait until the GPU holds less than ``limit_mib`` (a stopped engine frees its memory late);
    a new vLLM engine sizes its KV cache from what is free."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            return  # no GPU here: nothing to wait for
        if not used or max(int(u) for u in used) < limit_mib:
            return
        time.sleep(0.5)


@contextlib.contextmanager
def serving(config: str, overrides: list[str], log: Path, probe: tuple[str, dict[str, Any]],
            env: dict[str, str] | None = None, url: str = DEFAULT_URL) -> Iterator[Server]:
    """Run `querytune serve CONFIG --set ...` until the block ends; yields once it has answered ``probe``."""
    command = querytune_command("serve", config, *[arg for o in overrides for arg in ("--set", o)])
    with process(command, log, probe, url, env) as running:
        yield running


@contextlib.contextmanager
def process(command: list[str], log: Path, probe: tuple[str, dict[str, Any]], url: str,
            env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server process until the block ends (SIGTERM, then kill); yields once it has answered ``probe``."""
    wait_for_free_gpu()
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            cwd=REPO, env=env)
    marks: dict[str, float] = {}
    pump = threading.Thread(target=_pump, args=(proc, log, began, marks, PHASES), daemon=True)
    pump.start()
    try:
        _first_answer(url, *probe, proc, log)
        yield Server(url=url, first_answer_s=time.perf_counter() - began, log=log, marks=marks)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        pump.join(10)
