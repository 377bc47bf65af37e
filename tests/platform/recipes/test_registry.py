"""The recipe registry and what every recipe shares: one config model per recipe name, runs of
earlier versions resume, and SFT's warm-up reaches the trainer as a share of the steps."""
from __future__ import annotations

import pytest
import yaml

from querytune.platform import launch
from querytune.platform.config import RECIPE_CONFIGS, ConfigError, SftTrainConfig, set_path
from querytune.platform.recipes import RECIPES
from querytune.platform.recipes.sft import sft_args
from tests.conftest import TOY_TASK
from tests.platform.test_adapters import old_config


def test_every_recipe_has_a_config_model_and_every_model_a_recipe():
    assert set(RECIPES) == set(RECIPE_CONFIGS) == {"sft", "grpo"}
    assert {name: recipe.progress for name, recipe in RECIPES.items()} == {"sft": "epoch", "grpo": "step"}


@pytest.mark.parametrize("ratio, total, warmup", [(0.1, 100, 10), (0.1, 7, 1), (0.03, 93, 3), (0.0, 100, 0)])
def test_warmup_ratio_reaches_the_trainer_as_that_share_of_the_steps(tmp_path, ratio, total, warmup):
    """transformers 5 has no warmup_ratio: its warmup_steps takes a float in [0, 1) as a share of the steps."""
    cfg = SftTrainConfig(task=TOY_TASK, sft={"warmup_ratio": ratio})
    assert sft_args(cfg, str(tmp_path), use_gpu=False).get_warmup_steps(total) == warmup


def test_every_sft_setting_reaches_trls_config_under_its_trl_name(tmp_path):
    """Each SftSection field is passed on (or is one the recipe reads itself), so none is set for nothing."""
    from querytune.platform.recipes.sft import SFT_CONFIG_NAMES, SFT_CONFIG_SAME

    read_by_the_recipe = {"max_new_tokens"}  # the per-epoch val generation, not TRL's
    assert set(SFT_CONFIG_NAMES.values()) | set(SFT_CONFIG_SAME) | read_by_the_recipe == set(
        SftTrainConfig.model_fields["sft"].annotation.model_fields)
    cfg = SftTrainConfig(task=TOY_TASK, sft={"epochs": 2.5, "lr": 3e-4, "batch_size": 3, "grad_accum": 2,
                                             "scheduler": "linear", "max_length": 99, "logging_steps": 7})
    args = sft_args(cfg, str(tmp_path), use_gpu=False)
    assert (args.num_train_epochs, args.learning_rate, args.per_device_train_batch_size,
            args.gradient_accumulation_steps, args.lr_scheduler_type, args.max_length, args.logging_steps) == \
        (2.5, 3e-4, 3, 2, "linear", 99, 7)


def test_a_run_recorded_by_an_earlier_version_resumes_and_still_refuses_other_settings(tmp_path):
    """The record of a run started before each recipe had its own model holds the other recipe's
    sections too; they cannot change what this run trains."""
    cfg = SftTrainConfig(task=TOY_TASK, run={"name": "old-run", "storage_path": str(tmp_path)})
    run_dir = tmp_path / "old-run"
    (run_dir / "checkpoint_000000").mkdir(parents=True)
    (run_dir / launch.RUN_CONFIG).write_text(yaml.safe_dump(old_config("sft", run=cfg.run.model_dump())))
    launch.check_same_run(cfg)
    with pytest.raises(ConfigError, match=r"already ran with other settings .*: sft\.lr \(0\.0002 -> 0\.001\)\."):
        launch.check_same_run(set_path(cfg, "sft.lr", 1e-3))


def test_where_a_run_logs_is_no_other_setting_a_record_from_before_tracking_resumes_with_tracking_on(tmp_path):
    cfg = SftTrainConfig(task=TOY_TASK, run={"name": "old-run", "storage_path": str(tmp_path)})
    run_dir = tmp_path / "old-run"
    (run_dir / "checkpoint_000000").mkdir(parents=True)
    untracked = {k: v for k, v in cfg.run.model_dump().items() if k != "tracking"}  # written before run.tracking
    (run_dir / launch.RUN_CONFIG).write_text(yaml.safe_dump(old_config("sft", run=untracked)))
    launch.check_same_run(cfg)
    launch.check_same_run(set_path(cfg, "run.tracking.tensorboard", True))
