"""Training faults: a killed sweep trial is retried and the sweep completes; a crashed run or an
interrupted registration never leaves a half-written adapter in the registry.

Processes are killed with SIGKILL, found by their Ray process title (``ray::ImplicitFunc`` is a
Tune trial's driver, ``ray::RayTrainWorker`` a Ray Train worker) and by their working folder,
which names this test's own run: other Ray clusters on the machine are never touched.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from querytune.platform import adapters, launch
from querytune.platform.config import SweepConfig, TrainConfig
from tests.conftest import TOY_TASK

KILL_DEADLINE_S = 300


def pids_of(title: str, folder_suffix: str) -> list[int]:
    """Processes titled ``ray::<title>...`` whose working folder ends with ``folder_suffix``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (process.info["cmdline"] or [""])[0].startswith(f"ray::{title}") and \
                    process.cwd().endswith(folder_suffix):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def kill_when(ready, victims, killed: list[dict]) -> None:
    """Poll until ``ready()``, then SIGKILL every pid ``victims()`` names; record what and when."""
    deadline = time.time() + KILL_DEADLINE_S
    while time.time() < deadline:
        pids = victims() if ready() else []
        if pids:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed.append({"pids": pids, "at": time.time()})
            return
        time.sleep(0.2)


def tiny_train(storage: Path, name: str, **run) -> dict:
    """A toy SFT run of two short epochs on tiny-qwen3 (the first epoch ends in a checkpoint)."""
    return {"task": TOY_TASK, "model": {"name": "tiny-qwen3"},
            "data": {"num_examples": 40, "val_samples": 2},  # 2 steps an epoch at batch 16
            "sft": {"epochs": 2, "batch_size": 16, "lr": 5e-3, "max_new_tokens": 4, "logging_steps": 1},
            "run": {"name": name, "storage_path": str(storage), **run}}


# --------------------------------------------------------------------------- sweep
def checkpointed(train_root: Path) -> list[str]:
    """Trials whose Train run has recorded a checkpoint in its snapshot: what a retry resumes from."""
    return sorted(p.parent.name for p in train_root.glob("trial-*/checkpoint_manager_snapshot.json"))


@pytest.mark.slow
def test_a_killed_trial_is_retried_and_the_sweep_completes(ray_local, tiny_model, tmp_path):
    from querytune.platform import sweep

    name = f"fault-sweep-{uuid.uuid4().hex[:6]}"
    cfg = SweepConfig.model_validate({
        "train": {**tiny_train(tmp_path, name, max_failures=0),  # no Train-level retry: Tune must do it
                  "sft": {**tiny_train(tmp_path, name)["sft"], "epochs": 3}},  # epochs left after the kill
        "space": {"lora.r": {"choice": [4, 8]}},
        "sweep": {"num_samples": 2, "max_concurrent_trials": 2, "max_failures": 1,
                  "grace_period": 5}})  # beyond the 3 epochs: ASHA stops no trial, both must finish
    train_root = Path(sweep.sweep_folder(cfg)) / sweep.TRAIN_SUBDIR
    killed: list[dict] = []
    killer = threading.Thread(target=kill_when, args=(
        lambda: checkpointed(train_root),
        lambda: pids_of("ImplicitFunc", f"/{name}/working_dirs/{checkpointed(train_root)[0]}"), killed))
    began = time.time()
    killer.start()
    outcome = sweep.run(cfg)
    killer.join()
    took = time.time() - began

    assert killed, "no trial driver was killed: the test did not exercise a crash"
    assert [row.status for row in outcome.rows] == [sweep.FINISHED, sweep.FINISHED], outcome.rows
    assert outcome.registered == "toy-best" and [m.name for m in adapters.list_adapters(str(tmp_path))] == ["toy-best"]
    resumed = {row.trial: adapters.read_manifest(row.adapter).metrics["resumed_from_step"] for row in outcome.rows}
    assert max(resumed.values()) > 0, f"the retried trial started over instead of resuming: {resumed}"
    print(f"\nsweep: killed trial driver {killed[0]['pids']} {killed[0]['at'] - began:.1f} s in; "
          f"resumed from steps {resumed}; sweep done in {took:.1f} s")


# --------------------------------------------------------------------------- crashed run
def test_a_crashed_run_registers_nothing(ray_local, tiny_model, tmp_path):
    name = f"crash-{uuid.uuid4().hex[:6]}"
    cfg = TrainConfig.model_validate(tiny_train(tmp_path, name, max_failures=0))
    killed: list[dict] = []
    killer = threading.Thread(target=kill_when, args=(lambda: True, lambda: pids_of("RayTrainWorker", name), killed))
    killer.start()
    from ray.train import TrainingFailedError

    with pytest.raises(TrainingFailedError):
        launch.train(cfg)
    killer.join()

    assert killed, "no Train worker was killed: the test did not exercise a crash"
    assert adapters.list_adapters(str(tmp_path)) == []
    assert not (tmp_path / "adapters").exists() or not any((tmp_path / "adapters").iterdir())


# --------------------------------------------------------------------------- registry
@pytest.fixture
def registry(tiny_registry, tmp_path) -> Path:
    """A private registry holding a copy of 'sg-tiny' as 'sg'."""
    adapters.register(Path(tiny_registry) / "adapters" / "sg-tiny", "sg", str(tmp_path))
    return tmp_path


def test_folders_without_a_manifest_are_not_adapters(registry):
    root = registry / "adapters"
    shutil.copytree(root / "sg", root / "half")
    (root / "half" / adapters.MANIFEST).unlink()  # a crash before the manifest, which is written last
    shutil.copytree(root / "sg", root / ".tmp-next-1a2b3c4d")  # a staging folder, even a complete one

    assert [m.name for m in adapters.list_adapters(str(registry))] == ["sg"]
    with pytest.raises(adapters.AdapterError, match="querytune.json is missing"):
        adapters.resolve("half", str(registry))
    with pytest.raises(adapters.AdapterError, match="not allowed"):
        adapters.resolve(".tmp-next-1a2b3c4d", str(registry))


def big_adapter(tiny_registry: str, folder: Path, files: int) -> Path:
    """The qmd adapter plus ``files`` filler files: a copy slow enough to be killed midway."""
    shutil.copytree(Path(tiny_registry) / "adapters" / "qmd-tiny", folder)
    (folder / "filler").mkdir()
    for i in range(files):
        (folder / "filler" / f"{i:05d}.txt").write_bytes(os.urandom(2048))
    return folder


def test_an_interrupted_register_leaves_the_previous_version_intact(registry, tiny_registry, tmp_path):
    before = adapters.read_manifest(adapters.resolve("sg", str(registry)))
    weights = (registry / "adapters" / "sg" / adapters.WEIGHTS).read_bytes()
    src = big_adapter(tiny_registry, tmp_path / "new-version", files=20_000)
    code = f"from querytune.platform import adapters; adapters.register({str(src)!r}, 'sg', {str(registry)!r})"
    writer = subprocess.Popen([sys.executable, "-c", code])
    staging = registry / "adapters"
    deadline = time.time() + 60
    while not any(p.name.startswith(".tmp-sg-") and any(p.glob("filler/*")) for p in staging.iterdir()):
        assert writer.poll() is None and time.time() < deadline, "register finished before it could be killed"
        time.sleep(0.005)
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    after = adapters.read_manifest(adapters.resolve("sg", str(registry)))
    assert after.task == before.task == "sourcegraph" and after.created == before.created
    assert (registry / "adapters" / "sg" / adapters.WEIGHTS).read_bytes() == weights
    assert [m.name for m in adapters.list_adapters(str(registry))] == ["sg"]

    adapters.register(src, "sg", str(registry))  # the next register completes over the leftovers
    assert adapters.read_manifest(adapters.resolve("sg", str(registry))).task == "qmd"
