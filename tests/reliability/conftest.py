"""Reliability fixtures: real tiny adapters written without Ray, and our server run by the real CLI.

The adapters are LoRAs on ``tiny-qwen3`` with random weights, written through the registry's
own ``write_adapter`` and ``register``: serving needs weights, not skill, and skipping Ray
Train keeps this suite within its time budget.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from querytune.netutil import free_port  # also imported from here by the reliability tests

API_KEY = "reliability-test-key"
ADAPTERS = {"sg-tiny": "sourcegraph", "qmd-tiny": "qmd"}
ROUTE_MAX_TOKENS = 4  # answers are judged for status codes here, not for quality
CHAT_MAX_TOKENS = 8  # limits.max_tokens: a chat completion may ask for at most this many
HEADER_TIMEOUT_S = 2  # limits.header_timeout_s: seconds, not the default 10, so a test sees connections dropped
MAX_CONNECTIONS = 48  # limits.max_connections: small enough for a test to reach it


def write_random_adapter(storage: Path, name: str, task: str, seed: int = 0) -> Path:
    """A registered LoRA on tiny-qwen3 whose B is random, so it changes the model like a trained one."""
    import torch
    from peft import LoraConfig, get_peft_model

    from querytune.platform import adapters, models

    torch.manual_seed(seed)
    model, _, base_dir = models.load_model("tiny-qwen3", dtype="float32", device="cpu")
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM", init_lora_weights=False))
    manifest = adapters.Manifest(task=task, recipe="sft",
                                 base=adapters.BaseRef(model="tiny-qwen3", hash=models.content_hash(base_dir)))
    out = adapters.write_adapter(storage / "out" / name, peft, manifest)
    return Path(adapters.register(out, name, str(storage)))


@pytest.fixture(scope="session")
def tiny_registry(tiny_model, tmp_path_factory) -> str:
    """A registry holding 'sg-tiny' (sourcegraph) and 'qmd-tiny' (qmd)."""
    storage = tmp_path_factory.mktemp("reliability-registry")
    for seed, (name, task) in enumerate(ADAPTERS.items()):
        write_random_adapter(storage, name, task, seed)
    return str(storage)


def serve_args(storage: str, **sections) -> dict:
    """ServeConfig arguments: both routes on one transformers deployment, tiny answers."""
    args = {
        "storage_path": storage,
        "api_key_env": "QUERYTUNE_API_KEY",
        "routes": {"sourcegraph": {"model": "sg-tiny", "max_tokens": ROUTE_MAX_TOKENS, "retries": 0},
                   "qmd": {"model": "qmd-tiny", "max_tokens": ROUTE_MAX_TOKENS, "retries": 0}},
        "limits": {"max_tokens": CHAT_MAX_TOKENS, "timeout_s": 20, "header_timeout_s": HEADER_TIMEOUT_S,
                   "max_connections": MAX_CONNECTIONS},
        "ingress": {"num_cpus": 0.1, "autoscaling": {"min_replicas": 1, "max_replicas": 1}},
        "deployments": [{"name": "tiny", "adapters": [{"adapter": name} for name in ADAPTERS],
                         "replica": {"num_cpus": 0.1, "max_ongoing_requests": 8},
                         "transformers": {"threads": 1}}],
    }
    args.update(sections)
    return args


def write_serve_file(path: Path, args: dict, http_options: dict | None = None) -> Path:
    """A Ray Serve config file as `querytune serve` reads it (no http_options = the defaults)."""
    data = {"applications": [{"name": "querytune", "args": args}]}
    if http_options is not None:
        data["http_options"] = http_options
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class LocalServer:
    """`querytune serve --local` in a child process: our app under uvicorn, as a user starts it."""

    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log

    def alive(self) -> bool:
        return self.process.poll() is None


@contextlib.contextmanager
def local_server(config: Path, log: Path, api_key: str | None, timeout_s: float = 120) -> Iterator[LocalServer]:
    """Start the CLI on a free port, wait for /healthz, stop it with SIGINT (Ctrl-C) afterwards."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "QUERYTUNE_API_KEY"}
    if api_key:
        env["QUERYTUNE_API_KEY"] = api_key
    with open(log, "w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "querytune.cli", "serve", str(config), "--local",
                                    "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = LocalServer(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.time() + timeout_s
        while True:
            if not server.alive() or time.time() > deadline:
                raise RuntimeError(f"querytune serve --local did not come up:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.25)
        yield server
    finally:
        if server.alive():
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def keyed_server(tiny_registry, tmp_path_factory) -> Iterator[LocalServer]:
    """Our server with an API key ($QUERYTUNE_API_KEY), started with no host option: the default bind."""
    folder = tmp_path_factory.mktemp("keyed-server")
    config = write_serve_file(folder / "serve.yaml", serve_args(tiny_registry))
    with local_server(config, folder / "server.log", API_KEY) as server:
        yield server


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
