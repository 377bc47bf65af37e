"""Serving fixtures: two tiny adapters (sourcegraph, qmd) trained once, configs, a uvicorn thread."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Iterator

import pytest

from querytune.netutil import free_port  # also imported from here by the serve tests
from querytune.serve.config import ServeConfig


def sourcegraph_task() -> str:
    """The real task once it builds data; until then a stand-in with the same example shape."""
    from querytune.experiments import get_task

    try:
        get_task("sourcegraph").generate(2, 0)
        return "sourcegraph"
    except Exception:  # noqa: BLE001 - the task is being written: any failure means "not yet"
        return "tests.serve.standins:SourcegraphStandIn"


@pytest.fixture(scope="session")
def registry(ray_local, tiny_model, tmp_path_factory) -> str:
    """A registry holding 'sg-tiny' and 'qmd-tiny': LoRA SFT of tiny-qwen3, 1 epoch on 16 rows."""
    from querytune.platform import launch
    from querytune.platform.config import SftTrainConfig

    storage = str(tmp_path_factory.mktemp("serve-registry"))
    for task, name in ((sourcegraph_task(), "sg-tiny"), ("qmd", "qmd-tiny")):
        launch.train(SftTrainConfig.model_validate({
            "task": task, "model": {"name": tiny_model},
            "lora": {"r": 8, "alpha": 16},
            "data": {"num_examples": 16, "val_samples": 0},  # 16 rows: serving needs weights, not skill
            "sft": {"epochs": 1, "batch_size": 8, "max_length": 512},  # the sourcegraph prompt is ~300 tokens
            "run": {"name": name, "storage_path": storage, "max_failures": 1},
        }))
    return storage


def tiny_serve_config(storage: str, **sections) -> ServeConfig:
    """Both routes on one transformers deployment; small answers and CPU shares so tests stay quick."""
    data = {
        "storage_path": storage,
        "api_key_env": None,
        "routes": {"sourcegraph": {"model": "sg-tiny", "max_tokens": 12, "retries": 1},
                   "qmd": {"model": "qmd-tiny", "max_tokens": 16, "retries": 1}},
        "ingress": {"num_cpus": 0.1, "autoscaling": {"min_replicas": 1, "max_replicas": 1}},
        "deployments": [{"name": "tiny", "adapters": [{"adapter": "sg-tiny"}, {"adapter": "qmd-tiny"}],
                         "replica": {"num_cpus": 0.1, "max_ongoing_requests": 8},
                         "transformers": {"threads": 1}}],
    }
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(data.get(key), dict) else value
    return ServeConfig.model_validate(data)


@contextlib.contextmanager
def uvicorn_thread(app, timeout_s: float = 120) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL. A startup that fails
    raises with uvicorn's own error records (the lifespan's traceback), not only its exit code."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    errors = _ErrorRecords()
    logging.getLogger("uvicorn.error").addHandler(errors)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + timeout_s
    try:
        while not server.started:
            if not thread.is_alive() or time.time() > deadline:
                raise RuntimeError(f"uvicorn did not start within {timeout_s:.0f} s:\n{errors.text()}")
            time.sleep(0.05)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(errors)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class _ErrorRecords(logging.Handler):
    """uvicorn's error-level records, formatted with their tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines) or "(uvicorn logged no error)"
