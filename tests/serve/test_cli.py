"""`querytune serve`: deploys, prints its URL, answers, and stops cleanly on SIGTERM; bad configs fail plainly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from querytune.cli import app as cli
from querytune.serve.config import HttpOptions, ServeApplication, ServeFile
from tests.serve.conftest import free_port, tiny_serve_config

REPO = Path(__file__).resolve().parents[2]


def write_serve_file(path: Path, cfg, port: int) -> Path:
    file = ServeFile(http_options=HttpOptions(port=port), applications=[ServeApplication(args=cfg)])
    path.write_text(yaml.safe_dump(file.model_dump(mode="json"), sort_keys=False))
    return path


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"no {text!r} (exit code {proc.poll()}):\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


@pytest.mark.parametrize("mode", [[], ["--local"]], ids=["ray", "local"])
def test_serve_command_answers_then_stops_on_sigterm(registry, tmp_path, mode):
    port = free_port()
    config = write_serve_file(tmp_path / "serve.yaml", tiny_serve_config(registry), port)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray, not the test session's
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "querytune.cli", "serve", str(config), *mode],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        wait_for_line(log, f"querytune is serving at http://127.0.0.1:{port}/", proc, 300)
        answer = httpx.post(f"http://127.0.0.1:{port}/sourcegraph/query", json={"query": "find Go tests"}, timeout=60)
        assert answer.status_code == 200 and "valid" in answer.json()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_command_names_a_route_that_points_at_nothing(registry, tmp_path):
    cfg = tiny_serve_config(registry, routes={"qmd": {"model": "qmd-grpo"}})
    config = write_serve_file(tmp_path / "serve.yaml", cfg, free_port())
    result = CliRunner().invoke(cli, ["serve", str(config)])
    assert result.exit_code == 2 and "routes.qmd.model='qmd-grpo' is not served" in " ".join(result.output.split())
