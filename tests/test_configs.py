"""Every shipped YAML parses with the model it is for (a typo in a config fails here, not in a run)."""
from pathlib import Path

import pytest

from querytune.platform.config import TrainConfig, load_config
from querytune.platform.sweep_config import SweepConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def load_shipped(path: Path):
    name = path.stem
    if name.startswith("serve") or name.endswith("serve"):
        from querytune.serve.config import load_serve_file

        return load_serve_file(path)
    if "sweep" in name:
        return load_config(path, SweepConfig)
    if name.startswith("demo"):
        from querytune.demo import DemoConfig

        return load_config(path, DemoConfig)
    return load_config(path, TrainConfig)


def test_there_are_configs_for_both_tasks():
    names = {str(p.relative_to(REPO / "configs")) for p in CONFIGS}
    for task in ("sourcegraph", "qmd"):
        assert {f"{task}/sft.yaml", f"{task}/sweep.yaml", f"{task}/grpo.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_is_valid(path):
    assert load_shipped(path) is not None
    assert path.read_text().lstrip().startswith("#"), "a config starts with the command that runs it"
