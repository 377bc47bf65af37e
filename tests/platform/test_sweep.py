"""Sweeps: search space -> trial configs; a Tune sweep that ASHA prunes, survives a killed driver and
registers its best adapter.

The integration sweep runs SmolLM2-135M (`default`), not tiny-qwen3: the random tiny model answers
none of the toy val rows, so every trial's val_score is 0, and ASHA (which stops a trial only when
it is strictly below the rung's median) would never stop anything.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from querytune.platform import adapters, leaderboard, sweep
from querytune.platform.config import ConfigError, TrainConfig, load_config, validate
from querytune.platform.sweep_config import SweepConfig
from tests.conftest import TOY_TASK
from tests.toy import ToyTask

REPO = Path(__file__).resolve().parents[2]
GOOD = {"lora.r": 8, "lora.alpha": 2, "sft.lr": 5e-3}  # learns to repeat the word within an epoch
BAD = {"lora.r": 4, "lora.alpha": 1, "sft.lr": 1e-6}  # stays the base model, which answers few rows


def space() -> dict:
    return {"lora.r": {"choice": [4, 8]}, "lora.alpha": {"mult": ["lora.r", [1, 2]]},
            "sft.lr": {"loguniform": [1e-6, 1e-2]}}


# --------------------------------------------------------------------------- configs
def test_trial_config_sets_each_key_and_alpha_as_a_multiple_of_r():
    cfg = SweepConfig.model_validate({"train": {"task": TOY_TASK}, "space": space()})
    trial = sweep.trial_config(cfg.train, cfg.space, {"lora.r": 8, "lora.alpha": 2, "sft.lr": 3e-4})
    assert (trial.lora.r, trial.lora.alpha, trial.sft.lr) == (8, 16, 3e-4)
    assert sweep.resolved_params(cfg.train, cfg.space, {"lora.r": 4, "lora.alpha": 1, "sft.lr": 1e-5}) == {
        "lora.r": 4, "lora.alpha": 4, "sft.lr": 1e-5}


@pytest.mark.parametrize("dims, message", [
    ({"lora.rank": {"choice": [8]}}, "unknown key 'lora.rank'"),
    ({"lora.alpha": {"mult": ["lora.rank", [2]]}}, "unknown key 'lora.rank'"),
    ({"sft.lr": {"loguniform": [0, 1e-3]}}, "needs 0 < low < high"),
    ({"sft.lr": {"choice": [1e-4], "uniform": [0, 1]}}, "exactly one of"),
])
def test_bad_space_is_refused_naming_the_key(dims, message):
    with pytest.raises(ConfigError, match=message):
        validate(SweepConfig, {"train": {"task": TOY_TASK}, "space": dims}, "sweep.yaml")


@pytest.mark.parametrize("settings, message", [
    ({"metric": "val_accuracy"}, "use one of val_score, val_nonempty, loss"),
    ({"metric": "loss", "mode": "max"}, "loss is lower-is-better; set sweep.mode=min"),
])
def test_metric_must_be_reported_and_ranked_its_own_way(settings, message):
    cfg = SweepConfig.model_validate({"train": {"task": TOY_TASK}, "sweep": settings})
    with pytest.raises(ConfigError, match=message):
        sweep.check_metric(cfg, ToyTask())


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*/sweep*.yaml")), ids=lambda p: p.parent.name + p.name)
def test_shipped_sweep_configs_search_rank_lr_and_epochs(path):
    cfg = load_config(path, SweepConfig)
    assert {"lora.r", "lora.alpha", "sft.lr", "sft.epochs"} <= set(cfg.space)
    assert cfg.space["lora.alpha"].mult[0] == "lora.r" and cfg.sweep.metric == "val_score"
    assert cfg.train.data.val_samples > 0
    if path.stem.endswith("-gpu"):
        assert cfg.train.scaling.use_gpu and cfg.train.scaling.gpus_per_worker < 1
        assert cfg.train.model.name.startswith("Qwen/Qwen3-")
    else:
        assert cfg.train.model.name == "default" and cfg.train.data.max_train <= 128


def test_a_sweep_whose_trial_can_never_fit_is_refused_before_it_waits(ray_local):
    cfg = SweepConfig.model_validate({"train": {"task": TOY_TASK, "scaling": {"cpus_per_worker": 16}}})
    with pytest.raises(ConfigError, match="one trial needs 17 CPU .* can have at most 8: no trial could ever start"):
        sweep.check_capacity(cfg)


def test_concurrent_trials_that_would_queue_are_named_before_they_wait(ray_local, caplog):
    cfg = SweepConfig.model_validate({"train": {"task": TOY_TASK, "scaling": {"cpus_per_worker": 2}},
                                      "sweep": {"max_concurrent_trials": 4}})
    sweep.check_capacity(cfg)
    assert "sweep.max_concurrent_trials=4 needs 12 CPU (3 per trial) but the cluster has 8: trials will queue" in \
        caplog.text


def test_a_sweep_that_fits_says_nothing(ray_local, caplog):
    sweep.check_capacity(SweepConfig.model_validate({"train": {"task": TOY_TASK},
                                                     "sweep": {"max_concurrent_trials": 4}}))
    assert "CPU" not in caplog.text


# --------------------------------------------------------------------------- a real sweep
def sweep_yaml(tmp: Path) -> Path:
    data = {
        "train": {
            "task": TOY_TASK, "model": {"name": "default"},
            "data": {"num_examples": 60, "max_train": 24, "val_samples": 4},  # 3 steps an epoch at batch 8
            "sft": {"epochs": 2, "batch_size": 8, "max_length": 48, "max_new_tokens": 6, "logging_steps": 1,
                    "warmup_ratio": 0},
            "run": {"name": "toy-sweep", "storage_path": str(tmp)},
        },
        "space": space(),
        # 4 trials, one at a time, in this order, so ASHA's decisions do not depend on which trial reports
        # first: the last BAD trial reaches epoch 1 after a GOOD one has recorded a better score there and
        # is stopped, wherever the kill falls (a restored sweep's ASHA starts with empty rungs: Tune does
        # not save the scheduler, and that GOOD trial may be the one before or after the kill).
        "sweep": {"num_samples": 4, "max_concurrent_trials": 1, "grace_period": 1, "reduction_factor": 2,
                  "points_to_evaluate": [{**p} for p in (GOOD, BAD, GOOD, BAD)]},  # copies: no YAML aliases
    }
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tune_statuses(folder: Path) -> dict[str, str]:
    """trial id -> status, as Tune last saved its experiment state (what a restore starts from)."""
    states = sorted(folder.glob("experiment_state-*.json"))
    try:
        data = json.loads(states[-1].read_text()) if states else {"trial_data": []}
    except json.JSONDecodeError:  # being written
        return {}
    trials = [json.loads(state) for state, _ in data["trial_data"]]
    return {t["trial_id"]: t["status"] for t in trials}


def finished_on_disk(folder: Path, trial_id: str) -> bool:
    return any((folder / "train" / f"trial-{trial_id}").glob("checkpoint_*/adapter/querytune.json"))


def kill_after_a_finished_trial(proc: subprocess.Popen, folder: Path, log: Path, timeout_s: float = 900) -> set[str]:
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        done = {t for t, s in tune_statuses(folder).items() if s == "TERMINATED" and finished_on_disk(folder, t)}
        if done:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return done
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no trial finished before the sweep ended or {timeout_s}s passed (rc={proc.returncode}):\n"
                + "\n".join(log.read_text().splitlines()[-40:]))


def trial_footprint(folder: Path, trial_id: str) -> tuple[int, list[str]]:
    """Reports Tune logged and checkpoints Train wrote: both grow if the trial runs again."""
    results = (folder / f"trial-{trial_id}" / "result.json").read_text().splitlines()
    return len(results), sorted(p.name for p in (folder / "train" / f"trial-{trial_id}").glob("checkpoint_*"))


@pytest.fixture(scope="module")
def resumed_sweep(ray_local, tmp_path_factory):
    """`querytune sweep` killed (SIGKILL) once a trial has finished, then resumed in-process."""
    from querytune.platform import models

    models.resolve("default")
    tmp = tmp_path_factory.mktemp("sweep")
    config = sweep_yaml(tmp)
    cfg = load_config(config, SweepConfig)
    folder = Path(sweep.sweep_folder(cfg))
    env = {**os.environ, "RAY_ADDRESS": ray_local.get_runtime_context().gcs_address}
    log = tmp / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "querytune.cli", "sweep", str(config)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finished_before = kill_after_a_finished_trial(proc, folder, log)
    before = {t: trial_footprint(folder, t) for t in finished_before}
    assert sweep.unfinished_trials(str(folder), 4) > 0  # the kill left work for the resume
    outcome = sweep.run(cfg, resume=True)
    return cfg, folder, finished_before, before, outcome


def test_resume_finishes_the_sweep_without_rerunning_finished_trials(resumed_sweep):
    _, folder, finished_before, before, outcome = resumed_sweep
    assert len(outcome.rows) == 4 and len({r.trial for r in outcome.rows}) == 4
    by_name = {r.trial: r for r in outcome.rows}
    for trial_id in finished_before:
        assert by_name[f"trial-{trial_id}"].status == leaderboard.FINISHED
        assert trial_footprint(folder, trial_id) == before[trial_id]
    assert all(s == "TERMINATED" for s in tune_statuses(folder).values())
    assert sweep.unfinished_trials(str(folder), 4) == 0


def test_asha_stops_a_trailing_trial_after_its_first_epoch(resumed_sweep):
    _, _, _, _, outcome = resumed_sweep
    stopped = [r for r in outcome.rows if r.status == leaderboard.STOPPED]
    assert stopped, [(r.trial, r.status, r.history) for r in outcome.rows]
    assert all(r.adapter is None and r.progress == 1 for r in stopped)
    assert all(r.progress == 2 for r in outcome.rows if r.status == leaderboard.FINISHED)
    assert min(r.metric for r in stopped) < outcome.best.metric


def test_best_finished_trial_is_registered_with_its_trial_config(resumed_sweep):
    cfg, _, _, _, outcome = resumed_sweep
    best = outcome.best
    assert best.status == leaderboard.FINISHED and outcome.registered == "toy-best"
    assert best.metric == max(r.metric for r in outcome.rows if r.status == leaderboard.FINISHED)
    model, _, manifest = adapters.load("toy-best", cfg.train.run.storage_path, device="cpu")
    trial = validate(TrainConfig, manifest.config)
    assert trial.run.name == best.trial  # the manifest names the trial
    assert (trial.lora.r, trial.lora.alpha, trial.sft.lr) == (best.params["lora.r"], best.params["lora.alpha"],
                                                              best.params["sft.lr"])
    assert manifest.base.model == "default" and manifest.recipe == "sft" and manifest.metrics["val_score"] > 0
    assert model.peft_config["default"].r == best.params["lora.r"]


def test_leaderboard_and_report_are_written(resumed_sweep):
    _, folder, _, _, outcome = resumed_sweep
    board = json.loads((folder / "leaderboard.json").read_text())
    assert [t["trial"] for t in board["trials"]] == [r.trial for r in outcome.rows]
    assert board["best"]["trial"] == outcome.best.trial and board["registered"] == "toy-best"
    page = (folder / "report.html").read_text()
    for figure in ("metric_vs_params", "learning_curves", "parallel_coordinates"):
        assert (folder / f"{figure}.png").stat().st_size > 1000 and f'data-file="{figure}.png"' in page
    assert outcome.best.trial in page and "stopped early" in page
    assert leaderboard.table(outcome).row_count == 4


def test_starting_a_sweep_again_under_the_same_name_asks_for_resume(resumed_sweep):
    cfg, *_ = resumed_sweep
    with pytest.raises(ConfigError, match="pass --resume"):
        sweep.run(cfg)
