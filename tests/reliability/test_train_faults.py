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
from querytune.platform.config import SftTrainConfig
from querytune.platform.sweep_config import SweepConfig
from tests.conftest import TOY_TASK

DEADLINE_S = 300


def pids_of(title: str, folder_suffix: str) -> set[int]:
    """Processes titled ``ray::<title>...`` whose working folder ends with ``folder_suffix``."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (process.info["cmdline"] or [""])[0].startswith(f"ray::{title}") and \
                    process.cwd().endswith(folder_suffix):
                found.add(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for(probe):
    """The first truthy ``probe()``, polled every 0.2 s; None after DEADLINE_S."""
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        if found := probe():
            return found
        time.sleep(0.2)
    return None


def kill(pids: set[int], record: dict) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    record.update(pids=sorted(pids), at=time.time())


def tiny_train(storage: Path, name: str, epochs: int = 2, **run) -> dict:
    """A toy SFT run of short epochs on tiny-qwen3, each ending in a checkpoint."""
    return {"task": TOY_TASK, "model": {"name": "tiny-qwen3"},
            "data": {"num_examples": 40, "val_samples": 2},  # 3 steps an epoch at batch 16
            "sft": {"epochs": epochs, "batch_size": 16, "lr": 5e-3, "max_new_tokens": 4, "logging_steps": 1},
            "run": {"name": name, "storage_path": str(storage), **run}}


# --------------------------------------------------------------------------- sweep
def checkpointed(train_root: Path) -> list[str]:
    """Trials whose Train run has recorded a checkpoint in its snapshot: what a retry resumes from."""
    return sorted(p.parent.name for p in train_root.glob("trial-*/checkpoint_manager_snapshot.json"))


def kill_a_trial_driver(sweep_name: str, train_root: Path, record: dict) -> None:
    """Once a trial has a checkpoint, SIGKILL its driver; then wait for Tune to start it again."""
    trial = (wait_for(lambda: checkpointed(train_root)) or [None])[0]
    suffix = f"/{sweep_name}/working_dirs/{trial}"  # Tune runs each trial's driver in its own folder
    drivers = wait_for(lambda: pids_of("ImplicitFunc", suffix)) if trial else None
    if not drivers:
        return
    kill(drivers, record)
    record["trial"] = trial
    if wait_for(lambda: pids_of("ImplicitFunc", suffix) - drivers):
        record["restarted_s"] = round(time.time() - record["at"], 1)


@pytest.mark.slow
def test_a_killed_trial_is_retried_and_the_sweep_completes(ray_local, tiny_model, tmp_path):
    from querytune.platform import leaderboard, sweep

    name = f"fault-sweep-{uuid.uuid4().hex[:6]}"
    cfg = SweepConfig.model_validate({
        "train": tiny_train(tmp_path, name, epochs=3, max_failures=0),  # no Train-level retry: Tune must do it
        "space": {"lora.r": {"choice": [4, 8]}},
        "sweep": {"num_samples": 2, "max_concurrent_trials": 2, "max_failures": 1,
                  "grace_period": 5}})  # beyond the 3 epochs: ASHA stops no trial, both must finish
    record: dict = {}
    killer = threading.Thread(target=kill_a_trial_driver,
                              args=(name, Path(sweep.sweep_folder(cfg)) / sweep.TRAIN_SUBDIR, record))
    began = time.time()
    killer.start()
    outcome = sweep.run(cfg)
    killer.join()
    took = time.time() - began

    assert record.get("pids"), "no trial driver was killed: the test did not exercise a crash"
    assert "restarted_s" in record, f"Tune did not start {record['trial']} again"
    assert [row.status for row in outcome.rows] == [leaderboard.FINISHED, leaderboard.FINISHED], outcome.rows
    assert outcome.registered == "toy-best" and [m.name for m in adapters.list_adapters(str(tmp_path))] == ["toy-best"]
    resumed = {row.trial: adapters.read_manifest(row.adapter).metrics["resumed_from_step"] for row in outcome.rows}
    assert resumed[record["trial"]] > 0, f"the retried trial started over instead of resuming: {resumed}"
    print(f"\nsweep: killed the driver of {record['trial']} {record['at'] - began:.1f} s in; Tune restarted it "
          f"{record['restarted_s']} s later; it resumed at step {resumed[record['trial']]}; sweep done in {took:.1f} s")


# --------------------------------------------------------------------------- crashed run
def test_a_crashed_run_registers_nothing(ray_local, tiny_model, tmp_path):
    from ray.train import TrainingFailedError

    name = f"crash-{uuid.uuid4().hex[:6]}"
    cfg = SftTrainConfig.model_validate(tiny_train(tmp_path, name, max_failures=0))
    record: dict = {}
    killer = threading.Thread(target=lambda: kill(wait_for(lambda: pids_of("RayTrainWorker", name)) or set(), record))
    killer.start()
    with pytest.raises(TrainingFailedError):
        launch.train(cfg)
    killer.join()

    assert record.get("pids"), "no Train worker was killed: the test did not exercise a crash"
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


# --------------------------------------------------------------------------- failures, told in one line
NO_SUCH_MODEL = "no-such-org/no-such-model"  # HF_HUB_OFFLINE=1: fails at once, inside every Train worker


def cli(ray_local, *argv: str) -> tuple[int, str]:
    """``querytune ARGV`` on the session's Ray cluster; (exit code, stdout + stderr)."""
    env = {**os.environ, "RAY_ADDRESS": ray_local.get_runtime_context().gcs_address, "HF_HUB_OFFLINE": "1",
           "COLUMNS": "400"}  # rich wraps at the terminal width: keep the message on one line
    done = subprocess.run([sys.executable, "-m", "querytune.cli", *argv], cwd=Path(__file__).parents[2], env=env,
                          capture_output=True, text=True, timeout=DEADLINE_S)
    return done.returncode, done.stdout + done.stderr


def test_a_worker_error_is_one_line_naming_its_full_log(ray_local, tmp_path):
    """Before: 148 lines of three copies of the worker's traceback, the reason at the bottom of each."""
    code, output = cli(ray_local, "train", "tests/data/tiny_train.yaml", "--set", f"run.storage_path={tmp_path}",
                       "--set", f"model.name={NO_SUCH_MODEL}", "--set", "run.max_failures=0")
    message = next((line for line in output.splitlines() if line.startswith("error: ")), "")
    assert code != 0 and message.startswith("error: training run 'tiny-job' failed: "), output
    full = Path(message.split("full traceback: ")[1].rstrip(")"))
    assert full == tmp_path / "tiny-job" / "error-rank0.log" and NO_SUCH_MODEL in full.read_text()
    assert full.read_text().startswith("Traceback") and "site-packages/huggingface_hub" in full.read_text()
    assert "site-packages/huggingface_hub" not in output, output  # no frame of the worker's traceback is shown
    print(f"\nworker error: {output.count(chr(10))} lines of output, {full.read_text().count(chr(10))} in {full.name}")


def test_a_sweep_whose_every_trial_fails_exits_non_zero(ray_local, tmp_path):
    """Before: exit 0 with a leaderboard of errors and 'no trial finished'."""
    code, output = cli(ray_local, "sweep", "tests/data/tiny_sweep.yaml", "--set", f"train.run.storage_path={tmp_path}",
                       "--set", f"train.model.name={NO_SUCH_MODEL}", "--set", "train.run.max_failures=0")
    assert code != 0, output
    assert "error: every trial of sweep 'tiny-sweep' failed (2 of 2), nothing registered; the first: trial-" in output
    assert "full traceback: " in output and adapters.list_adapters(str(tmp_path)) == []
