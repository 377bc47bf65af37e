"""Broken configs and data files through the real CLI: a non-zero exit, a message that names the
file and the key path or line, and no Python traceback.

The files live in ``tests/reliability/broken/``; each starts with the command that fails on it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROKEN = "tests/reliability/broken"
TOY = "tests.toy:ToyTask"


def eval_on(file: str) -> list[str]:
    return ["eval", "--task", TOY, "--model", "tiny-qwen3", "--data", f"{BROKEN}/{file}", "--out", "{tmp}/eval"]


# (command line after `querytune`, what the message must say)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "train-unknown-key": (["train", f"{BROKEN}/train-unknown-key.yaml"], ["train-unknown-key.yaml", "lora.rank",
                                                                          "unknown key"]),
    "train-wrong-type": (["train", f"{BROKEN}/train-wrong-type.yaml"], ["train-wrong-type.yaml", "sft.lr", "'fast'"]),
    "train-bad-yaml": (["train", f"{BROKEN}/train-bad-yaml.yaml"], ["train-bad-yaml.yaml", "line 4", "not valid YAML"]),
    "train-not-a-mapping": (["train", f"{BROKEN}/train-not-a-mapping.yaml"], ["train-not-a-mapping.yaml",
                                                                              "must be a mapping"]),
    "train-missing-task": (["train", f"{BROKEN}/train-missing-task.yaml"], ["train-missing-task.yaml", "task",
                                                                            "Field required"]),
    "train-section-not-a-mapping": (["train", f"{BROKEN}/train-section-not-a-mapping.yaml"], ["lora", "(got 8)"]),
    "train-unknown-task": (["train", f"{BROKEN}/train-unknown-task.yaml"], ["no-such-task"]),
    "train-grpo-without-parent": (["train", f"{BROKEN}/train-grpo-without-parent.yaml"], ["grpo.parent"]),
    "train-bad-override": (["train", f"{BROKEN}/train-unknown-task.yaml", "--set", "lora.r=-1"], ["lora.r", "-1"]),
    "train-yaml-aliases": (["train", f"{BROKEN}/train-yaml-aliases.yaml"], ["train-yaml-aliases.yaml", "line 5",
                                                                            "anchors and aliases"]),
    "train-bad-data": (["train", f"{BROKEN}/train-bad-data.yaml"], ["bad-json-line.jsonl:3", "not valid JSON"]),
    "sweep-unknown-space-key": (["sweep", f"{BROKEN}/sweep-unknown-space-key.yaml"], ["sweep-unknown-space-key.yaml",
                                                                                      "lora.rank"]),
    "sweep-bad-range": (["sweep", f"{BROKEN}/sweep-bad-range.yaml"], ["space.sft.lr", "0 < low < high"]),
    "sweep-missing-train": (["sweep", f"{BROKEN}/sweep-missing-train.yaml"], ["train", "Field required"]),
    "sweep-unknown-metric": (["sweep", f"{BROKEN}/sweep-unknown-metric.yaml"], ["sweep.metric='val_accuracy'",
                                                                                "val_score"]),
    "serve-min-over-max": (["serve", f"{BROKEN}/serve-min-over-max.yaml"], [
        "serve-min-over-max.yaml", "max_replicas (2) must be greater than or equal to min_replicas (3)"]),
    "serve-unknown-key": (["serve", f"{BROKEN}/serve-unknown-key.yaml"], ["routes.qmd.modle", "unknown key"]),
    "serve-two-applications": (["serve", f"{BROKEN}/serve-two-applications.yaml"], ["exactly one application"]),
    "serve-bad-port": (["serve", f"{BROKEN}/serve-bad-port.yaml"], ["http_options.port", "70000"]),
    "serve-unknown-adapter": (["serve", f"{BROKEN}/serve-unknown-adapter.yaml", "--local"], ["no-such-adapter",
                                                                                            "known: none"]),
    "serve-missing-file": (["serve", f"{BROKEN}/no-such-file.yaml"], ["no-such-file.yaml", "not found"]),
    "data-bad-json-line": (eval_on("bad-json-line.jsonl"), ["bad-json-line.jsonl:3", "not valid JSON"]),
    "data-non-object-line": (eval_on("non-object-line.jsonl"), ["non-object-line.jsonl:2", "JSON object", "list"]),
    "data-missing-fields": (eval_on("missing-fields.jsonl"), ["missing-fields.jsonl", "row 2", "'word'"]),
    "data-not-utf8": (eval_on("not-utf8.jsonl"), ["not-utf8.jsonl", "not UTF-8"]),
    "data-empty": (eval_on("empty.jsonl"), ["empty.jsonl", "no rows"]),
    "data-not-parquet": (eval_on("not-really.parquet"), ["not-really.parquet", "not a readable Parquet file"]),
    "data-wrong-parquet-columns": (eval_on("{tmp}/wrong-columns.parquet"), ["wrong-columns.parquet", "row 1",
                                                                            "'word'"]),
    "data-missing-file": (eval_on("no-such-file.jsonl"), ["no-such-file.jsonl", "not found"]),
    "score-without-completion": (["score", f"{BROKEN}/no-completion.jsonl", "--task", TOY, "--out", "{tmp}/score"],
                                 ["no-completion.jsonl", "row 2", "completion"]),
}


def run_cli(argv: list[str], tmp: Path) -> subprocess.CompletedProcess:
    argv = [arg.replace(f"{BROKEN}/{{tmp}}", str(tmp)).replace("{tmp}", str(tmp)) for arg in argv]
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps at the terminal width; keep each message on one line
    return subprocess.run([sys.executable, "-m", "querytune.cli", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every case run once, two at a time (each is a fresh `querytune` process)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folders = {name: tmp_path_factory.mktemp(name) for name in CASES}
    pq.write_table(pa.table({"text": ["a parquet file", "without the word column"]}),
                   folders["data-wrong-parquet-columns"] / "wrong-columns.parquet")
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda name: (name, run_cli(CASES[name][0], folders[name])), CASES)
        return {name: (result, folders[name]) for name, result in done}


@pytest.mark.parametrize("case", CASES)
def test_broken_input_is_refused_with_a_message_naming_it(outcomes, case):
    result, tmp = outcomes[case]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    for expected in CASES[case][1]:
        assert expected in output, f"{expected!r} not in:\n{output}"
    assert not (tmp / "eval").exists() and not (tmp / "score").exists(), "a refused input still wrote a run"
    assert "is serving at" not in output, "a server that cannot start announced its URL"
