"""Config errors name the file and the key path; overrides go through the same checks."""
from pathlib import Path

import pytest

from querytune.platform.config import (ConfigError, SweepConfig, TrainConfig, load_config, parse_override,
                                       set_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_work_on_cpu():
    cfg = TrainConfig(task="qmd")
    assert cfg.scaling.use_gpu is False and cfg.model.name == "default" and cfg.lora.r == 16


def test_unknown_key_names_file_and_path(tmp_path):
    path = write(tmp_path, "task: qmd\nlora:\n  rank: 8\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, TrainConfig)
    assert str(path) in str(err.value) and "lora.rank" in str(err.value) and "unknown key" in str(err.value)


def test_bad_value_names_key_and_value(tmp_path):
    path = write(tmp_path, "task: qmd\nsft:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=r"sft\.lr.*greater than 0.*-1"):
        load_config(path, TrainConfig)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"task: Field required"):
        load_config(write(tmp_path, "lora:\n  r: 8\n"), TrainConfig)


def test_yaml_syntax_error_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line \d+, column \d+ not valid YAML"):
        load_config(write(tmp_path, "task: qmd\nlora: {r: 8\n  bad: [\n"), TrainConfig)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("nope/missing.yaml", TrainConfig)


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "task: qmd\n")
    cfg = load_config(path, TrainConfig, ["lora.r=8", "sft.lr=1e-3", "scaling.use_gpu=true"])
    assert (cfg.lora.r, cfg.sft.lr, cfg.scaling.use_gpu) == (8, 1e-3, True)
    with pytest.raises(ConfigError, match=r"lora\.r"):
        load_config(path, TrainConfig, ["lora.r=zero"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("lora.r")


def test_cross_field_rules():
    with pytest.raises(ValueError, match="grpo.parent"):
        TrainConfig(task="qmd", recipe="grpo")
    with pytest.raises(ValueError, match="use_gpu"):
        TrainConfig(task="qmd", scaling={"gpus_per_worker": 0.5})
    with pytest.raises(ValueError, match="divisible by num_generations"):
        TrainConfig(task="qmd", grpo={"batch_size": 3, "num_generations": 2})


def test_set_path_validates():
    cfg = set_path(TrainConfig(task="qmd"), "lora.r", 32)
    assert cfg.lora.r == 32
    with pytest.raises(ConfigError):
        set_path(cfg, "lora.r", -4)


def test_sweep_space_keys_must_exist():
    with pytest.raises(ValueError, match="lora.rank"):
        SweepConfig(train={"task": "qmd"}, space={"lora.rank": {"choice": [8, 16]}})
    with pytest.raises(ValueError, match="exactly one"):
        SweepConfig(train={"task": "qmd"}, space={"lora.r": {"choice": [8], "uniform": [1, 2]}})
