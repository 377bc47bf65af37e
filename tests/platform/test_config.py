"""Config errors name the file and the key path; overrides go through the same checks; each recipe
has a model of its own, with only the sections it reads."""
from pathlib import Path

import pytest
from pydantic import BaseModel

from querytune.platform.config import (
    RECIPE_CONFIGS,
    ConfigError,
    GrpoTrainConfig,
    SftTrainConfig,
    TrainConfig,
    load_config,
    parse_override,
    set_path,
)
from querytune.platform.sweep_config import SweepConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_work_on_cpu():
    cfg = SftTrainConfig(task="qmd")
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
        GrpoTrainConfig(task="qmd")
    with pytest.raises(ValueError, match="use_gpu"):
        SftTrainConfig(task="qmd", scaling={"gpus_per_worker": 0.5})
    with pytest.raises(ValueError, match="divisible by num_generations"):
        GrpoTrainConfig(task="qmd", grpo={"parent": "p", "batch_size": 3, "num_generations": 2})
    with pytest.raises(ValueError, match="which data.source replaces"):
        SftTrainConfig(task="qmd", data={"source": "rows.jsonl", "options": {"clean": True}})


def test_a_wrong_builder_option_is_named_on_the_driver(tmp_path):
    from querytune.experiments import get_task
    from querytune.platform.data import DataError, check_options

    cfg = load_config(write(tmp_path, "task: sourcegraph\n"), TrainConfig,
                      ["data.options.intent_weights.cod=1"])
    with pytest.raises(DataError, match="intent_weights.cod: unknown"):
        check_options(get_task("sourcegraph"), cfg.data)
    check_options(get_task("sourcegraph"), cfg.data.model_copy(update={"options": {"intent_weights": {"code": 9}}}))
    qmd = cfg.data.model_copy(update={"options": {"clean": True, "max_hyde_chars": 200, "hyde_cap": 1}})
    with pytest.raises(DataError, match="data.options: .*hyde_cap"):
        check_options(get_task("qmd"), qmd)


def test_set_path_validates():
    cfg = set_path(SftTrainConfig(task="qmd"), "lora.r", 32)
    assert cfg.lora.r == 32
    with pytest.raises(ConfigError):
        set_path(cfg, "lora.r", -4)


def test_sweep_space_keys_must_exist():
    with pytest.raises(ValueError, match="lora.rank"):
        SweepConfig(train={"task": "qmd"}, space={"lora.rank": {"choice": [8, 16]}})
    with pytest.raises(ValueError, match="exactly one"):
        SweepConfig(train={"task": "qmd"}, space={"lora.r": {"choice": [8], "uniform": [1, 2]}})


# ---- one model per recipe -------------------------------------------------------------------------

def test_the_recipe_picks_the_model_and_sft_is_the_default(tmp_path):
    assert type(load_config(write(tmp_path, "task: qmd\n"), TrainConfig)) is SftTrainConfig
    grpo = load_config(write(tmp_path, "recipe: grpo\ntask: qmd\ngrpo: {parent: qmd-best}\n"), TrainConfig)
    assert type(grpo) is GrpoTrainConfig and grpo.grpo.lora.r == 8
    assert "lora" not in grpo.model_dump() and "sft" not in grpo.model_dump()
    with pytest.raises(ConfigError, match=r"recipe='ppo': not a training method; use one of sft, grpo"):
        load_config(write(tmp_path, "recipe: ppo\ntask: qmd\n"), TrainConfig)


@pytest.mark.parametrize("text, overrides, message", [
    ("lora:\n  r: 8\n", [], r"lora: recipe: grpo reads no top-level lora; .* is grpo\.lora: move it there"),
    ("", ["lora.r=8"], r"lora: recipe: grpo reads no top-level lora; .*--set grpo\.lora\.r=8"),
    ("sft:\n  lr: 1.0e-4\n", [], r"sft: recipe: grpo reads no sft section; GRPO's settings are under grpo"),
])
def test_a_grpo_config_with_sft_sections_fails_naming_the_key_and_where_it_belongs(tmp_path, text, overrides,
                                                                                    message):
    """Before: `--set lora.r=8` validated on a GRPO run and changed nothing (GRPO reads grpo.lora)."""
    path = write(tmp_path, f"recipe: grpo\ntask: qmd\ngrpo:\n  parent: qmd-best\n{text}")
    with pytest.raises(ConfigError, match=message):
        load_config(path, TrainConfig, overrides)


def test_overrides_of_grpo_keys_change_the_grpo_run(tmp_path):
    path = write(tmp_path, "recipe: grpo\ntask: qmd\ngrpo:\n  parent: qmd-best\n")
    cfg = load_config(path, TrainConfig, ["grpo.lora.r=4", "grpo.lr=1e-5"])
    assert (cfg.grpo.lora.r, cfg.grpo.lr) == (4, 1e-5)


def test_an_sft_config_with_a_grpo_section_fails_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"grpo: recipe: sft reads no grpo section; set recipe: grpo"):
        load_config(write(tmp_path, "task: qmd\ngrpo:\n  parent: p\n"), TrainConfig)


def test_a_grpo_sweep_cannot_search_the_sft_lora_but_can_search_its_own():
    with pytest.raises(ValueError, match=r"space key 'lora.r': lora: recipe: grpo reads no top-level lora"):
        SweepConfig(train={"recipe": "grpo", "task": "qmd", "grpo": {"parent": "p"}},
                    space={"lora.r": {"choice": [4, 8]}})
    cfg = SweepConfig(train={"recipe": "grpo", "task": "qmd", "grpo": {"parent": "p"}},
                      space={"grpo.lora.r": {"choice": [4, 8]}, "grpo.lr": {"loguniform": [1e-6, 1e-4]}})
    assert type(cfg.train) is GrpoTrainConfig


def config_models() -> list[type[BaseModel]]:
    """Every model a config file is read with, and every model nested in one."""
    found, todo = [], [*RECIPE_CONFIGS.values(), SweepConfig]
    while todo:
        model = todo.pop()
        if model not in found:
            found.append(model)
            todo += [t for f in model.model_fields.values() for t in nested(f.annotation)]
    return found


def nested(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [t for arg in getattr(annotation, "__args__", ()) for t in nested(arg)]


def test_every_config_field_says_what_it_is_for():
    """Before: 13 fields had no description (sft.warmup_ratio, grpo.lr, run.seed, ...)."""
    models = config_models()
    undescribed = [f"{m.__name__}.{name}" for m in models for name, f in m.model_fields.items() if not f.description]
    assert len(models) >= 12 and undescribed == []


def test_no_config_model_takes_the_name_of_the_library_class_it_feeds():
    library = {"SFTConfig", "GRPOConfig", "LoraConfig", "ScalingConfig", "RunConfig", "ModelConfig"}
    assert library.isdisjoint(m.__name__ for m in config_models())
