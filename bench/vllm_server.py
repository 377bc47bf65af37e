"""vLLM's own OpenAI server on the same base, adapters and engine settings: the serving baseline.

The serving goals count our overhead over vLLM's server, so the benchmarks measure both in
one run. The server gets the engine arguments our vLLM replica builds (``engine_args``:
same max_num_seqs, LoRA rank, prefix caching, CUDA-graph sizes, grammar backend), turned
into its command-line flags, and one ``--lora-modules`` entry per task adapter. Its requests
are chat completions with the messages our routes would build, the routes' ``max_tokens``,
greedy, and the task's grammar as ``structured_outputs`` where our adapters are constrained.

    python -m bench.throughput --baseline ...   # our server, then this one, same levels
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from bench.load import Request

PORT = 8100
#: AsyncEngineArgs fields our replica sets, passed on as the server's flags
FLAGS = ["model", "dtype", "seed", "max_model_len", "gpu_memory_utilization", "max_num_seqs", "enable_lora",
         "max_lora_rank", "max_loras", "max_cpu_loras", "enable_prefix_caching", "enforce_eager",
         "compilation_config", "structured_outputs_config", "speculative_config"]


def server_command(args: Any, loras: dict[str, Path], port: int = PORT) -> list[str]:
    """``python -m vllm.entrypoints.openai.api_server`` with ``args`` (AsyncEngineArgs) as flags."""
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1",
               "--port", str(port), "--disable-uvicorn-access-log"]
    values = {f.name: getattr(args, f.name) for f in fields(args)}
    for name in FLAGS:
        command += _flag(name, values[name])
    command += ["--lora-modules", *[f"{name}={folder}" for name, folder in loras.items()]]
    return command


def _flag(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "model_dump"):
        value = _as_dict(value)
    if isinstance(value, dict):
        return [flag, json.dumps(value)] if value else []
    return [flag, str(value)]


def _as_dict(config: Any) -> dict[str, Any]:
    """A vLLM config object as the JSON its flag takes: only the fields set away from their defaults."""
    if hasattr(config, "model_dump"):
        return config.model_dump(exclude_defaults=True, mode="json")
    default = type(config)()
    return {f.name: getattr(config, f.name) for f in fields(config)
            if getattr(config, f.name) != getattr(default, f.name)}


def chat_requests(task_names: list[str], rows: dict[str, list[dict[str, Any]]], max_tokens: dict[str, int],
                  grammars: dict[str, str] | None) -> list[Request]:
    """The chat completions vLLM's server gets for the rows our routes get, interleaved as theirs are."""
    from querytune.experiments import get_task

    per_task = []
    for name in task_names:
        task = get_task(name)
        bodies = []
        for row in rows[name]:
            example = {**row, "date": date.today().isoformat()} if name == "sourcegraph" else row
            body = {"model": name, "messages": task.messages(example), "max_tokens": max_tokens[name],
                    "temperature": 0.0}
            if grammars and name in grammars:
                body["structured_outputs"] = {"grammar": grammars[name]}
            bodies.append(("/v1/chat/completions", body))
        per_task.append(bodies)
    return [r for group in zip(*per_task) for r in group]


@contextlib.contextmanager
def vllm_server(engine_args: Any, loras: dict[str, Path], log: Path, probe: Request,
                port: int = PORT) -> Iterator[Any]:
    """vLLM's server until the block ends; yields (like ``bench.server.serving``) once it answered ``probe``."""
    from bench import server

    env = {**os.environ, "VLLM_USE_FLASHINFER_SAMPLER": "0"}  # as our replica sets it
    with server.process(server_command(engine_args, loras, port), log, probe, f"http://127.0.0.1:{port}",
                        env=env) as running:
        yield running
