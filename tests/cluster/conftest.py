"""A real multi-node Ray cluster on this machine: `ray start --head` plus worker nodes.

Each node gets its own temp dir and its own ports (other Ray instances may be running),
runs under `ray start --block` in its own process group, and is torn down by signalling
that group, so teardown never touches Ray processes that are not ours (`ray stop` would).
Every process of the cluster (nodes, `ray` CLI calls, job drivers) runs with an empty HOME of its
own, as on a new machine: token authentication uses a token made here (`RAY_AUTH_TOKEN_PATH`), not
a `~/.ray/auth_token` left by an earlier run, and models come from this session's model cache
(`QUERYTUNE_HOME`), which the `tiny_model` fixture fills.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOKEN_FILE = "auth_token"

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def node_ports() -> list[str]:
    names = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
    return [f"{name}={port}" for name, port in zip(names, free_ports(len(names)))]


@dataclass
class LocalCluster:
    gcs: str
    dashboard: str
    storage: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    temp: Path = Path()

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)

    def alive_nodes(self) -> int:
        out = self.run(str(BIN / "ray"), "status", "--address", self.gcs, timeout=60)
        active = out.stdout.split("Active:")[-1].split("Pending:")[0] if "Active:" in out.stdout else ""
        return len(re.findall(r"^\s*1 node_", active, flags=re.M))

    def submit(self, *command: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """`ray job submit --working-dir .` of a querytune command; retried while the job agent starts."""
        for _ in range(30):
            done = self.run(str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--working-dir", ".",
                            "--", *command, timeout=timeout)
            if "No available agent" not in done.stdout + done.stderr:
                return done
            time.sleep(2)
        return done

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.temp, ignore_errors=True)


def start_node(cluster: LocalCluster, *args: str, name: str) -> None:
    log = open(cluster.temp / f"{name}.log", "w")
    cluster.procs.append(subprocess.Popen(
        [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", f"--temp-dir={cluster.temp / name}",
         *node_ports(), *args], cwd=REPO, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True))


@pytest.fixture(scope="module")
def two_node_cluster():
    """Head (2 CPUs) + worker node (2 CPUs, custom resource `node2`), sharing one storage folder."""
    from ray._private.authentication.authentication_token_generator import generate_new_authentication_token
    from ray.util import get_node_ip_address

    from querytune.platform.models import cache_dir

    temp = Path(tempfile.mkdtemp(prefix="qt-cluster-", dir="/tmp"))
    (temp / TOKEN_FILE).write_text(generate_new_authentication_token())
    (temp / "home").mkdir()
    gcs_port, dash_port, client_port = free_ports(3)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(temp / "home"),
           "QUERYTUNE_HOME": str(cache_dir().parent), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(temp / TOKEN_FILE), "PYTHONUNBUFFERED": "1"}
    cluster = LocalCluster(gcs=f"{get_node_ip_address()}:{gcs_port}", dashboard=f"http://127.0.0.1:{dash_port}",
                           storage=temp / "shared-storage", env=env, temp=temp)
    try:
        start_node(cluster, "--head", f"--port={gcs_port}", "--num-cpus=2", "--include-dashboard=true",
                   f"--dashboard-port={dash_port}", f"--ray-client-server-port={client_port}",
                   "--min-worker-port=20000", "--max-worker-port=20999", name="head")
        deadline = time.time() + 120
        while time.time() < deadline and cluster.alive_nodes() < 1:
            time.sleep(2)
        start_node(cluster, f"--address={cluster.gcs}", "--num-cpus=2", '--resources={"node2": 1}',
                   "--min-worker-port=21000", "--max-worker-port=21999", name="worker")
        while time.time() < deadline and cluster.alive_nodes() < 2:
            time.sleep(2)
        assert cluster.alive_nodes() == 2, (temp / "worker.log").read_text()[-2000:]
        yield cluster
    finally:
        cluster.stop()
