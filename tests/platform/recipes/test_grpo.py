"""GRPO on Ray Train from a tiny SFT adapter: lineage, rewards on real completions, best-step
selection, resume after a crash, and refusal of a parent of another task or base."""
from __future__ import annotations

import difflib
import json
import math
import threading
from pathlib import Path

import pytest

from querytune.platform import adapters, launch
from querytune.platform.config import ConfigError, TrainConfig, load_config, validate
from querytune.platform.recipes.grpo import Best
from querytune.platform.sweep_config import SweepConfig
from tests.platform.recipes.test_sft import _kill_a_worker_after_first_checkpoint
from tests.platform.test_adapters import logits, other_base, random_lora
from tests.toy import ToyTask

TASK = "tests.platform.recipes.test_grpo:RecordingToyTask"
STEPS, EVAL_EVERY, BATCH, GENERATIONS = 4, 2, 8, 4


class RecordingToyTask(ToyTask):
    """ToyTask with a dense reward that appends what it was given to the rows' ``log_path`` file.

    A random 2-layer model never repeats a word exactly, so the exact-match reward would
    give every completion 0 and GRPO no gradient; string similarity to the word varies
    from sample to sample. The validation ``score`` stays exact match. The log path
    travels in the data (``data.options``), so it reaches the Ray worker.
    """

    def generate(self, n: int, seed: int, log_path: str = ""):
        rows = super().generate(n, seed)
        return rows.add_column("log_path", [log_path] * n) if log_path else rows

    def reward(self, prompts, completions, **columns):
        texts = [c[-1]["content"] for c in completions]
        rewards = [difflib.SequenceMatcher(None, w, t.strip()).ratio() for w, t in zip(columns["word"], texts)]
        if columns.get("log_path"):
            with open(columns["log_path"][0], "a") as handle:
                handle.write(json.dumps({"prompts": prompts, "completions": completions, "words": columns["word"],
                                         "columns": sorted(columns), "rewards": rewards}) + "\n")
        return rewards


def toy_cfg(storage: Path, name: str, **sections) -> TrainConfig:
    base = {
        "task": TASK,
        "model": {"name": "tiny-qwen3"},
        "data": {"num_examples": 120, "val_samples": 4},
        "run": {"name": name, "storage_path": str(storage), "max_failures": 0},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(TrainConfig, base)


def grpo_cfg(storage: Path, name: str, log_path: Path | str = "", **sections) -> TrainConfig:
    grpo = {"parent": "toy-sft", "steps": STEPS, "eval_every": EVAL_EVERY,
            "batch_size": BATCH, "num_generations": GENERATIONS,  # 2 prompts x 4 completions a step
            "max_completion_length": 8,                          # toy answers are one short word
            "lr": 5e-3, "format_reward_weight": 0.5, **sections.pop("grpo", {})}
    data = {"num_examples": 40, "options": {"log_path": str(log_path)} if log_path else {}}
    return toy_cfg(storage, name, recipe="grpo", grpo=grpo, data=data, **sections)


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grpo")


@pytest.fixture(scope="module")
def sft(ray_local, tiny_model, storage) -> launch.Outcome:
    cfg = toy_cfg(storage, "toy-sft", sft={"epochs": 2, "batch_size": 16, "lr": 5e-3, "max_new_tokens": 6})
    return launch.train(cfg)


@pytest.fixture(scope="module")
def reward_log(storage) -> Path:
    return storage / "rewards.jsonl"


@pytest.fixture(scope="module")
def grpo(sft, storage, reward_log) -> launch.Outcome:
    return launch.train(grpo_cfg(storage, "toy-grpo", reward_log))


def load_logits(name: str, storage: Path, **kw):
    model, tokenizer, _ = adapters.load(name, str(storage), dtype="float32", device="cpu", **kw)
    return logits(model, tokenizer)


# --------------------------------------------------------------------------- the run
def test_grpo_adapter_records_its_chain(grpo, sft):
    manifest = adapters.read_manifest(grpo.adapter)
    parent = adapters.read_manifest(sft.adapter)
    assert manifest.recipe == "grpo" and manifest.name == "toy-grpo" and manifest.task == TASK
    assert manifest.base == parent.base  # same base model and content hash
    assert [(p.name, p.recipe, p.dir) for p in manifest.parents] == [("toy-sft", "sft", "parents/0")]
    assert (Path(grpo.adapter) / "parents/0" / adapters.WEIGHTS).is_file()
    assert manifest.config["grpo"]["parent"] == "toy-sft" and manifest.config["grpo"]["beta"] > 0


def test_grpo_logs_rewards_kl_length_and_validation(grpo):
    m = grpo.metrics
    assert m["steps"] == STEPS and m["done"] == 1
    for key in ("reward", "reward_std", "kl", "completions/mean_length", "rewards/task_reward/mean",
                "rewards/format_reward/mean", "val_score", "last_val_score", "parent_val_score"):
        assert isinstance(m[key], float) and not math.isnan(m[key]), key
    assert m["time_val_s"] < m["time_train_s"] and m["time_model_s"] > 0 and m["time_trainer_s"] > 0


def test_rewards_are_computed_on_the_generated_completions(grpo, reward_log):
    calls = [json.loads(line) for line in reward_log.read_text().splitlines()]
    assert len(calls) == STEPS  # one generation round a step (grad_accum=1)
    for call in calls:
        assert len(call["completions"]) == BATCH
        assert call["columns"] == ["log_path", "word"]  # the example columns, not TRL's extra kwargs
        for prompt, word in zip(call["prompts"], call["words"]):
            assert prompt[-1]["content"] == f"Repeat: {word}"  # each completion comes with its own row
        texts = [c[-1]["content"] for c in call["completions"]]
        assert len(set(texts)) > 2  # sampled at temperature 1, not copies of one answer
    # What TRL logged for the last step is what the reward functions returned on those completions.
    last = calls[-1]
    nonempty = sum(bool(c[-1]["content"].strip()) for c in last["completions"]) / BATCH
    assert grpo.metrics["rewards/task_reward/mean"] == pytest.approx(sum(last["rewards"]) / BATCH)
    assert grpo.metrics["rewards/format_reward/mean"] == pytest.approx(nonempty)
    assert grpo.metrics["reward"] == pytest.approx(sum(last["rewards"]) / BATCH + 0.5 * nonempty)


def test_the_best_step_is_registered_not_the_last(grpo, storage):
    m = grpo.metrics
    assert m["kl"] > 0  # by the last step the policy had moved away from the parent...
    # ...but exact match never rose above the parent's on validation, so step 0 is what gets registered
    assert m["selected_step"] == 0 and m["val_score"] == m["parent_val_score"] == m["last_val_score"]
    assert "no GRPO step beat the SFT parent" in m["note"]
    assert adapters.read_manifest(grpo.adapter).metrics["selected_step"] == 0
    # The step-0 adapter is the identity on top of the merged parent: same logits as the parent.
    import torch

    torch.testing.assert_close(load_logits("toy-grpo", storage), load_logits("toy-sft", storage), atol=1e-6, rtol=0)


def test_grpo_adapter_loads_only_through_its_chain(grpo, sft, storage):
    import torch
    from peft import PeftModel

    from querytune.platform import models

    chained = load_logits("toy-grpo", storage, verify=True)  # also matches the logits recorded at training time
    base, tokenizer, _ = models.load_model("tiny-qwen3", dtype="float32", device="cpu")
    manual = PeftModel.from_pretrained(base, Path(sft.adapter)).merge_and_unload()
    manual = PeftModel.from_pretrained(manual, grpo.adapter).eval()
    torch.testing.assert_close(logits(manual, tokenizer), chained, atol=1e-6, rtol=0)

    raw_base, _, _ = models.load_model("tiny-qwen3", dtype="float32", device="cpu")
    raw = PeftModel.from_pretrained(raw_base, grpo.adapter).eval()  # the 0% trap: GRPO adapter on the raw base
    assert (logits(raw, tokenizer) - chained).abs().max() > 1e-3


def test_merged_export_of_the_grpo_adapter_equals_the_chain(grpo, storage, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from querytune.platform import models

    out = adapters.export_merged("toy-grpo", tmp_path / "merged", str(storage))
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    torch.testing.assert_close(logits(merged, models.load_tokenizer(out)), load_logits("toy-grpo", storage),
                               atol=1e-4, rtol=0)


def test_a_crashed_grpo_run_resumes_and_keeps_its_best_step(sft, storage):
    cfg = grpo_cfg(storage, "toy-grpo-crash", run={"max_failures": 2})
    killed: list[int] = []
    # The step-0 report (the parent's score) holds no trainer state yet: kill after the step-2 one.
    killer = threading.Thread(target=_kill_a_worker_after_first_checkpoint,
                              args=(storage / cfg.run.name, killed, 2))
    killer.start()
    outcome = launch.train(cfg)
    killer.join()

    assert killed, "no worker was killed: the test did not exercise a crash"
    m = outcome.metrics
    # resumed from a later eval's checkpoint (step 2, or step 4 when the kill lands late), never from scratch
    assert m["resumed_from_step"] in (EVAL_EVERY, STEPS) and m["steps"] == STEPS
    # step 0 ran before the crash only: its score and adapter came back from the Ray checkpoint
    assert m["selected_step"] == 0 and m["parent_val_score"] == m["val_score"]


def test_a_relative_storage_path_still_finds_the_parent_in_the_workers(sft, storage, monkeypatch):
    # The shipped configs say `storage_path: runs`; Ray workers run in other folders.
    monkeypatch.chdir(storage.parent)
    launch.train(grpo_cfg(Path(storage.name), "toy-grpo-relative", grpo={"steps": 1, "eval_every": 1}))
    assert (storage / "adapters" / "toy-grpo-relative" / adapters.MANIFEST).is_file()


def test_a_grpo_sweep_runs_grpo_trials_from_the_shared_parent(sft, storage):
    """Before: a sweep whose train.recipe was grpo validated, then ran SFT trials."""
    from querytune.platform import leaderboard, sweep

    train = grpo_cfg(storage, "toy-grpo-sweep", grpo={"steps": 2, "eval_every": 1}).model_dump(mode="json")
    cfg = SweepConfig.model_validate({
        "train": train, "space": {"grpo.lr": {"choice": [1e-3, 5e-3]}},
        "sweep": {"num_samples": 2, "max_concurrent_trials": 2,
                  "grace_period": 4}})  # beyond the 2 steps: ASHA stops no trial, both must finish
    outcome = sweep.run(cfg)

    assert outcome.progress == "step" and [r.status for r in outcome.rows] == [leaderboard.FINISHED] * 2
    assert all(r.progress == 2 and [h["progress"] for h in r.history] == [0, 1, 2] for r in outcome.rows)
    for row in outcome.rows:
        manifest = adapters.read_manifest(row.adapter)
        assert manifest.recipe == "grpo" and [p.name for p in manifest.parents] == ["toy-sft"]
        assert manifest.config["grpo"]["lr"] == row.params["grpo.lr"] and "sft" not in manifest.config
    assert outcome.registered == "toy-grpo-best"  # not toy-best: that name is the SFT sweeps' (the parent)
    assert adapters.read_manifest(adapters.resolve("toy-grpo-best", str(storage))).recipe == "grpo"


# --------------------------------------------------------------------------- refusals
def test_a_parent_of_another_task_is_refused_before_training(sft, storage):
    cfg = grpo_cfg(storage, "wrong-task", task="tests.toy:ToyTask")
    with pytest.raises(adapters.AdapterError, match=r"trained for task '.*RecordingToyTask'.*this run's task is"):
        launch.train(cfg)


def test_a_parent_trained_on_another_base_is_refused(sft, storage, tmp_path):
    cfg = grpo_cfg(storage, "wrong-base", model={"name": str(other_base(tmp_path))})
    with pytest.raises(adapters.AdapterError, match=r"trained on base 'tiny-qwen3'.*set model.name=tiny-qwen3"):
        launch.train(cfg)


@pytest.mark.parametrize("path", ["configs/qmd/grpo.yaml", "configs/sourcegraph/grpo.yaml"])
def test_shipped_grpo_configs_run_on_cpu_and_name_an_sft_parent(path):
    cfg = load_config(path, TrainConfig)
    assert cfg.recipe == "grpo" and cfg.grpo.parent.endswith("-best") and cfg.grpo.beta > 0
    assert not cfg.scaling.use_gpu and not cfg.grpo.use_vllm


@pytest.mark.parametrize("override, message", [
    ("grpo.use_vllm=true", "grpo.use_vllm=true needs scaling.use_gpu=true"),
    ("data.val_samples=0", "data.val_samples=0 leaves nothing to score"),
    ("grpo.scale_rewards=std", "grpo.scale_rewards"),
    ("grpo.num_iterations=0", "grpo.num_iterations"),
    ("grpo.lr_scheduler=warmup_stable_decay", "grpo.lr_scheduler"),
])
def test_grpo_config_mistakes_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("configs/qmd/grpo.yaml", TrainConfig, [override])


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_reward_scaling_reaches_trl(scale, tmp_path):
    from querytune.platform.recipes.grpo import grpo_args

    cfg = load_config("configs/qmd/grpo.yaml", TrainConfig, [f"grpo.scale_rewards={scale}"])
    assert grpo_args(cfg, str(tmp_path), use_gpu=False, reward_weights=[1.0]).scale_rewards == scale


@pytest.mark.parametrize("iterations, schedule", [(1, "linear"), (2, "constant"), (4, "cosine")])
def test_rollout_reuse_and_schedule_reach_trl(iterations, schedule, tmp_path):
    from querytune.platform.recipes.grpo import grpo_args

    cfg = load_config("configs/qmd/grpo.yaml", TrainConfig,
                      [f"grpo.num_iterations={iterations}", f"grpo.lr_scheduler={schedule}"])
    args = grpo_args(cfg, str(tmp_path), use_gpu=False, reward_weights=[1.0])
    assert (args.num_iterations, args.lr_scheduler_type.value) == (iterations, schedule)


# --------------------------------------------------------------------------- selection rule
def test_best_keeps_the_earliest_of_equal_scores_and_survives_a_restart(tiny_model, tmp_path):
    from ray.train import Checkpoint

    from querytune.platform import models

    model = random_lora(models.load_model("tiny-qwen3", dtype="float32", device="cpu")[0], seed=3)
    best, folder = Best(), tmp_path / "best"
    assert best.offer(0, {"val_score": 0.5}, model, folder)           # the parent
    assert not best.offer(2, {"val_score": 0.5}, model, folder)       # a tie does not replace it
    assert best.offer(4, {"val_score": 0.75, "val_other": 1.0}, model, folder)
    assert not best.offer(6, {"val_score": 0.6}, model, folder)
    assert (best.step, best.score, best.parent_score) == (4, 0.75, 0.5)
    assert best.note() == "step 4 raised val_score from 0.5000 (parent) to 0.7500"

    best.save(tmp_path / "ckpt", folder)
    restored = Best.restore(Checkpoint.from_directory(tmp_path / "ckpt"), tmp_path / "restored")
    assert restored == best and (tmp_path / "restored" / adapters.WEIGHTS).is_file()
