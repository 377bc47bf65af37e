"""LoRA SFT on Ray Train with a tiny model: learns, saves, reloads, scales out, survives a crash."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from querytune.platform import adapters, launch
from querytune.platform.config import ConfigError, SftTrainConfig
from tests.conftest import TOY_TASK


def tiny_cfg(tmp_path: Path, name: str, **sections) -> SftTrainConfig:
    base = {
        "task": TOY_TASK,
        "model": {"name": "tiny-qwen3"},
        "data": {"num_examples": 120, "val_samples": 4},       # ~7 steps an epoch at batch 16
        "sft": {"epochs": 2, "batch_size": 16, "lr": 5e-3, "max_new_tokens": 6, "logging_steps": 1},
        "run": {"name": name, "storage_path": str(tmp_path)},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return SftTrainConfig.model_validate(base)


def test_sft_lowers_loss_and_registers_an_adapter_that_reloads(ray_local, tiny_model, tmp_path):
    cfg = tiny_cfg(tmp_path, "toy-sft")
    outcome = launch.train(cfg)

    assert outcome.metrics["last_loss"] < outcome.metrics["first_loss"]
    phases = ("model", "data", "trainer", "train", "val", "checkpoint")
    times = {phase: outcome.metrics[f"time_{phase}_s"] for phase in phases}
    assert all(seconds > 0 for seconds in times.values()), times  # where the run's time went
    assert times["val"] + times["checkpoint"] < times["train"] <= outcome.metrics["train_runtime_s"] + 0.1
    folder = Path(outcome.adapter)
    assert (folder / "adapter_model.safetensors").is_file() and (folder / "config.yaml").is_file()
    manifest = adapters.read_manifest(folder)
    assert manifest.name == "toy-sft" and manifest.recipe == "sft" and manifest.parents == []
    assert manifest.base.model == "tiny-qwen3" and manifest.base.hash.startswith("sha256:")
    assert manifest.data_fingerprint.startswith("sha256:") and manifest.config["lora"]["r"] == 16
    assert [m.name for m in adapters.list_adapters(str(tmp_path))] == ["toy-sft"]

    # The reloaded chain reproduces the logits of the model as it was in memory at the end of training.
    model, tokenizer, _ = adapters.load("toy-sft", str(tmp_path), device="cpu", verify=True)
    reloaded = adapters.probe_logits(model, tokenizer)
    assert max(abs(a - b) for a, b in zip(reloaded, manifest.probe["logits"])) < 1e-4


def test_two_worker_ddp(ray_local, tiny_model, tmp_path):
    cfg = tiny_cfg(tmp_path, "toy-ddp", scaling={"num_workers": 2}, sft={"epochs": 1})
    result = launch.fit(cfg)
    assert result.error is None
    assert result.metrics["world_size"] == 2 and result.metrics["done"] == 1


def train_worker_pids() -> list[int]:
    """Ray titles each actor process 'ray::<Class>...': find the Train workers by it."""
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [""])[0].startswith("ray::RayTrainWorker")]


def _kill_a_worker_after_first_checkpoint(run_dir: Path, killed: list[int], checkpoints: int = 1) -> None:
    deadline = time.time() + 240
    while time.time() < deadline and len(list(run_dir.glob("checkpoint_*"))) < checkpoints:
        time.sleep(0.5)
    time.sleep(3)  # the folder appears while the report is still being registered
    for pid in train_worker_pids():
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


def test_killed_worker_resumes_from_last_checkpoint(ray_local, tiny_model, tmp_path):
    cfg = tiny_cfg(tmp_path, "toy-crash", sft={"epochs": 3}, run={"max_failures": 2})
    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_worker_after_first_checkpoint, args=(tmp_path / "toy-crash", killed))
    killer.start()
    result = launch.fit(cfg)
    killer.join()

    assert killed, "no worker was killed: the test did not exercise a crash"
    assert result.error is None and result.metrics["done"] == 1
    assert result.metrics["resumed_from_step"] > 0


def test_rerun_of_a_finished_run_does_not_train_again(ray_local, tiny_model, tmp_path):
    cfg = tiny_cfg(tmp_path, "toy-rerun", sft={"epochs": 1})
    first = launch.fit(cfg)
    again = launch.fit(cfg)
    assert first.metrics["done"] == again.metrics["done"] == 1
    assert again.metrics["rerun"] == 1  # reported the finished adapter, trained nothing
    assert again.metrics["train_loss"] == first.metrics["train_loss"]


def test_rerun_under_the_same_name_with_other_settings_is_refused_naming_them(ray_local, tiny_model, tmp_path):
    """Without the check the rerun exits 0 and registers the first run's adapter as if trained at lr 1e-3."""
    first = launch.train(tiny_cfg(tmp_path, "toy-same", sft={"epochs": 1, "max_steps": 2}))
    changed = tiny_cfg(tmp_path, "toy-same", sft={"epochs": 1, "max_steps": 2, "lr": 1e-3}, lora={"r": 8})
    with pytest.raises(ConfigError, match=r"run.name='toy-same' already ran with other settings .*: "
                                          r"lora.r \(16 -> 8\), sft.lr \(0.005 -> 0.001\)\. Set run.name"):
        launch.train(changed)
    again = launch.train(tiny_cfg(tmp_path, "toy-same", sft={"epochs": 1, "max_steps": 2}, run={"max_failures": 0}))
    assert again.metrics["rerun"] == 1 and again.metrics["train_loss"] == first.metrics["train_loss"]


@pytest.mark.parametrize("scaling, keys", [
    ({"num_workers": 20}, "scaling.num_workers=20 x scaling.cpus_per_worker=1 needs 20 CPU"),
    ({"use_gpu": True}, "scaling.use_gpu=true, scaling.num_workers=1 x scaling.gpus_per_worker=1 needs 1 GPU"),
])
def test_a_run_the_cluster_can_never_hold_fails_at_once_naming_the_keys(ray_local, tmp_path, scaling, keys):
    """Ray Train would wait for these workers forever."""
    with pytest.raises(ConfigError, match=re.escape(keys) + " but this Ray cluster can have at most"):
        launch.train(tiny_cfg(tmp_path, "toy-too-big", scaling=scaling))
    assert not (tmp_path / "toy-too-big").exists()


def test_unknown_task_fails_before_any_worker_starts(tmp_path):
    with pytest.raises(KeyError, match="unknown task"):
        launch.train(SftTrainConfig(task="nope", run={"storage_path": str(tmp_path)}))
