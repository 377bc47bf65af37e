"""Tracking: a train run, a sweep and an eval leave MLflow runs and TensorBoard files; tracking that cannot
work is one ConfigError line; with it off nothing logs, whatever the environment says."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from querytune.platform import launch, sweep, tracking
from querytune.platform.config import ConfigError, TrainConfig, load_config, validate
from querytune.platform.evaluate import EvalSpec, run_eval
from querytune.platform.sweep_config import SweepConfig
from tests.conftest import TOY_TASK

REPO = Path(__file__).resolve().parents[2]
ON = {"mlflow": True, "tensorboard": True}


def store(root: Path):
    """The MLflow client of the store a run under ``root`` logs into by default."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("events.out.tfevents.*"))


def scalar_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for path in event_files(folder):
        events = EventAccumulator(str(path))
        events.Reload()
        tags |= set(events.Tags()["scalars"])
    return tags


# --------------------------------------------------------------------------- config and checks
def test_mlflow_keys_while_mlflow_is_off_are_refused_naming_them():
    with pytest.raises(ConfigError, match=r"run.tracking: .*experiment='qmd': no effect while mlflow=false "
                                          r"\(set mlflow=true, or remove it\)"):
        validate(TrainConfig, {"task": TOY_TASK, "run": {"tracking": {"experiment": "qmd"}}}, "sft.yaml")


def test_mlflow_on_without_mlflow_installed_is_one_line_naming_the_key_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    with pytest.raises(ConfigError) as err:
        tracking.check(tracking.TrackingSection(mlflow=True), "run.tracking.", "runs")
    assert str(err.value) == ("run.tracking.mlflow=true but MLflow is not installed: "
                              "pip install 'querytune[tracking]' (or set run.tracking.mlflow=false)")


@pytest.mark.parametrize("settings, message", [
    ({"mlflow": True}, "run.tracking.mlflow=true keeps runs in a SQLite file .* set run.tracking.mlflow_uri"),
    ({"tensorboard": True}, "run.tracking.tensorboard=true writes event files .* not a folder"),
])
def test_a_local_store_on_object_storage_is_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        tracking.check(tracking.TrackingSection(**settings), "run.tracking.", "s3://bucket/qt")


def test_cli_train_with_mlflow_missing_fails_in_one_line_before_ray_starts(tmp_path):
    hidden = tmp_path / "hide" / "mlflow"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'mlflow'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "hide"), str(REPO)]),
           "COLUMNS": "300"}  # rich wraps at the terminal's width
    proc = subprocess.run([sys.executable, "-m", "querytune.cli", "train", "tests/data/tiny_train.yaml",
                           "--set", f"run.storage_path={tmp_path}", "--set", "run.tracking.mlflow=true"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert out.splitlines() == ["error: run.tracking.mlflow=true but MLflow is not installed: pip install "
                                "'querytune[tracking]' (or set run.tracking.mlflow=false)"]
    assert not (tmp_path / "tiny-job").exists()


def test_with_tracking_off_an_mlflow_environment_logs_nowhere(monkeypatch, tmp_path):
    """MLFLOW_TRACKING_URI used to switch sweeps to MLflow (a 51-line traceback without mlflow)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    cfg = validate(TrainConfig, {"task": TOY_TASK, "run": {"storage_path": str(tmp_path)}})
    tracking.check(cfg.run.tracking, "run.tracking.", cfg.run.storage_path)
    assert tracking.report_to(cfg.run.tracking) == "none"  # the HF Trainer's auto-detection stays off
    assert tracking.worker_env(cfg, str(tmp_path / "run")) == {}
    assert tracking.tune_callbacks(cfg) == []
    assert not (tmp_path / "mlruns").exists()


def test_a_trial_logs_to_mlflow_through_the_sweep_only():
    cfg = validate(TrainConfig, {"task": TOY_TASK, "run": {"tracking": {**ON, "experiment": "x"}}})
    assert tracking.for_trial(cfg).run.tracking == tracking.TrackingSection(tensorboard=True)


# --------------------------------------------------------------------------- real runs
def test_train_logs_params_loss_and_adapter_to_mlflow_and_writes_tensorboard_files(ray_local, tiny_model, tmp_path):
    cfg = validate(TrainConfig, {
        "task": TOY_TASK, "model": {"name": tiny_model},
        "data": {"num_examples": 48, "val_samples": 2},
        "sft": {"epochs": 1, "max_steps": 3, "batch_size": 8, "max_new_tokens": 4, "logging_steps": 1},  # 3 steps
        "run": {"name": "toy-tracked", "storage_path": str(tmp_path), "tracking": ON},
    })
    outcome = launch.train(cfg)

    client = store(tmp_path)
    experiment = client.get_experiment_by_name("toy")  # default: the task's name
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "toy-tracked" and run.info.status == "FINISHED"
    assert run.data.params["lora.r"] == "16" and run.data.params["sft.max_steps"] == "3"
    assert run.data.params["model.name"] == tiny_model
    losses = client.get_metric_history(run.info.run_id, "loss")  # the HF Trainer's MLflowCallback, per step
    assert [m.step for m in losses] == [1, 2, 3]
    assert run.data.metrics["train_loss"] == pytest.approx(outcome.metrics["train_loss"])
    assert "val_score" in run.data.metrics  # the final metrics, logged by the driver
    artifacts = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "adapter")}
    assert {"adapter_model.safetensors", "querytune.json", "config.yaml"} <= artifacts
    assert (tmp_path / "mlruns" / "artifacts" / "toy").is_dir()  # not ./mlruns of the working folder

    tensorboard = tmp_path / "toy-tracked" / "tensorboard"  # the HF Trainer's TensorBoardCallback
    assert event_files(tensorboard)
    assert {"train/loss", "train/learning_rate"} <= scalar_tags(tensorboard)


def test_sweep_leaves_one_mlflow_run_per_trial_and_the_best_adapter(ray_local, tiny_model, tmp_path):
    cfg = load_config(REPO / "tests/data/tiny_sweep.yaml", SweepConfig, [  # 2 trials at once, 1 epoch of 4 steps
        f"train.run.storage_path={tmp_path}", "train.sft.logging_steps=1",  # a loss at each step, not every 5th
        "train.run.tracking.mlflow=true", "train.run.tracking.tensorboard=true"])
    outcome = sweep.run(cfg)
    assert len(outcome.rows) == 2 and outcome.best is not None

    client = store(tmp_path)
    experiment = client.get_experiment_by_name("toy-sweep-tiny-sweep")
    runs = client.search_runs([experiment.experiment_id])
    by_trial = {r.data.tags["trial_name"]: r for r in runs}
    assert sorted(by_trial) == sorted(row.trial for row in outcome.rows)  # one run per trial, no other
    for row in outcome.rows:
        run = by_trial[row.trial]
        assert run.data.params["lora.r"] == str(row.params["lora.r"])  # Tune's MLflowLoggerCallback
        assert {"val_score", "loss", "epoch"} <= set(run.data.metrics)
        assert run.data.tags["querytune.status"] == row.status
    best = by_trial[outcome.best.trial]
    assert best.data.tags["querytune.best"] == "true" and best.data.tags["querytune.adapter"] == "tiny-best"
    artifacts = {Path(f.path).name for f in client.list_artifacts(best.info.run_id, "adapter")}
    assert {"adapter_model.safetensors", "querytune.json"} <= artifacts
    assert {Path(f.path).name for f in client.list_artifacts(best.info.run_id, "sweep")} == {
        "leaderboard.json", "report.html"}
    assert not any(client.list_artifacts(r.info.run_id, "adapter") for r in runs if r is not best)

    folder = Path(outcome.folder)
    for row in outcome.rows:
        assert event_files(folder / row.trial)  # Tune's TBXLoggerCallback: every epoch report
        assert "train/loss" in scalar_tags(folder / "train" / row.trial / "tensorboard")  # each Trainer's steps


def test_eval_logs_its_spec_means_and_run_folder(tiny_model, tmp_path):
    spec = EvalSpec(task=TOY_TASK, model=tiny_model, max_new_tokens=4, out=str(tmp_path / "eval"),
                    storage=str(tmp_path), tracking=tracking.from_cli(["mlflow=true", "tensorboard=true"]))
    out = run_eval(spec)

    client = store(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert run.data.params["model"] == tiny_model and run.data.tags["querytune.kind"] == "eval"
    assert {"score", "nonempty", "parse_ok", "latency_p50_s"} <= set(run.data.metrics)
    assert {"summary.json", "examples.jsonl", "report.html"} <= {
        Path(f.path).name for f in client.list_artifacts(run.info.run_id, "eval")}
    assert {"eval/score", "eval/parse_ok"} <= scalar_tags(out / "tensorboard")
