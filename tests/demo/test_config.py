"""The demo YAML validates every stage's config before anything starts, reading each file once."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from querytune.demo import DemoConfig, resolve, stage_names
from querytune.platform import config as platform_config
from querytune.platform.config import ConfigError, load_config
from querytune.serve import config as serve_config

REPO = Path(__file__).resolve().parents[2]
DEMO = "configs/demo/demo.yaml"


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How often each YAML is read from disk (the platform's and the serve config's reader)."""
    counts: Counter = Counter()
    real = platform_config.read_yaml

    def counting(path):
        counts[str(path)] += 1
        return real(path)

    monkeypatch.chdir(REPO)  # demo configs name other configs relative to the repo root
    monkeypatch.setattr(platform_config, "read_yaml", counting)
    monkeypatch.setattr(serve_config, "read_yaml", counting)
    return counts


def test_validating_and_resolving_the_demo_reads_each_yaml_once(reads, tmp_path):
    cfg = load_config(DEMO, DemoConfig)
    assert stage_names(cfg) == ["start", "data", "sweep sourcegraph", "sweep qmd", "grpo sourcegraph",
                                "eval sourcegraph", "eval qmd", "serve", "report"]
    resolve(cfg, tmp_path)
    assert reads == Counter({DEMO: 1, "configs/demo/sourcegraph-sweep.yaml": 1, "configs/demo/qmd-sweep.yaml": 1,
                             "configs/demo/grpo.yaml": 1, "configs/demo/serve.yaml": 1})


def test_a_typo_in_a_referenced_config_fails_the_demo_config(reads):
    with pytest.raises(ConfigError, match="qmd-sweep.yaml.*\n.*train.lora.rnk: unknown key"):
        load_config(DEMO, DemoConfig, ["tasks=[{sweep: {file: configs/demo/qmd-sweep.yaml, "
                                       "set: [train.lora.rnk=3]}}]"])
