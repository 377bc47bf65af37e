"""Best-of-N: the tasks' gold-free choice, the backends' sampling and `querytune eval --best-of N`."""
import json
import sys
import types
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from querytune.cli import app
from querytune.experiments.qmd.task import QMDTask
from querytune.experiments.sourcegraph.task import SourcegraphTask
from querytune.experiments.sourcegraph.vote import vote
from querytune.platform.backends import VLLMBackend
from querytune.platform.evaluate import EvalSpec, run_eval

ECHO = "lex: kubectl pods\nvec: how do I list pods with kubectl"
GOOD = ("hyde: kubectl get pods -n prod lists the pods of a namespace with their status and restarts.\n"
        "lex: kubectl get pods namespace\nlex: kubectl describe pod events\n"
        "vec: how do I list and inspect running pods with kubectl")


def test_qmd_chooses_the_highest_score_and_the_first_of_equals():
    task = QMDTask()
    example = {"query": "kubectl"}
    assert task.choose(example, [ECHO, GOOD, "Sure! lex: x"]) == 1
    assert task.choose(example, [GOOD, GOOD]) == 0
    assert task.choose(example, ["", "nonsense"]) == 0  # an empty answer scores 50%, nonsense fails


def test_sourcegraph_votes_over_canonical_forms():
    # "l:Golang" and "lang:go" are one search; it wins 2-1 and the first of its group is returned
    assert vote(["repo:x foo", "lang:go foo", "l:Golang foo"]) == 1
    assert vote(["repo:x foo", "lang:go foo"]) == 0  # a tie keeps the group seen first
    assert vote(["(unbalanced", "also (bad"]) == 0
    assert SourcegraphTask().choose({"query": "foo", "date": "2026-11-25"},
                                    ["(bad", 'type:commit after:"1 week ago"', "type:commit after:2026-11-18"]) == 1


def test_eval_best_of_keeps_the_chosen_sample_and_every_candidate(tiny_model, tmp_path):
    spec = EvalSpec(task="qmd", model=tiny_model, limit=3, max_new_tokens=8, best_of=3, temperature=1.0,
                    out=str(tmp_path / "bo3"))
    folder = run_eval(spec)
    rows = [json.loads(line) for line in (folder / "examples.jsonl").read_text().splitlines()]
    task = QMDTask()
    for row in rows:
        pick = row["best_of"]
        assert len(pick["candidates"]) == 3 == len(pick["scores"])
        assert row["output"] == pick["candidates"][pick["chosen"]]
        assert row["metrics"]["score"] == max(pick["scores"])
        assert pick["chosen"] == task.choose(row["example"], pick["candidates"])
        assert row["metrics"]["sample_score"] == pytest.approx(sum(pick["scores"]) / 3)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["spec"]["best_of"] == 3 and "sample_score" in summary["metrics"]
    assert summary["metrics"]["score"]["mean"] >= summary["metrics"]["sample_score"]["mean"]


def test_cli_best_of_option(tiny_model, tmp_path):
    result = CliRunner().invoke(app, ["eval", "--task", "qmd", "--model", tiny_model, "--limit", "2",
                                      "--max-new-tokens", "6", "--best-of", "2", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["spec"]["best_of"] == 2


@dataclass
class _Choice:
    text: str


def test_vllm_sample_asks_for_n_per_prompt_and_groups_them(monkeypatch):
    seen = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    fake = types.ModuleType("vllm")
    fake.SamplingParams = SamplingParams
    fake_sp = types.ModuleType("vllm.sampling_params")
    fake_sp.StructuredOutputsParams = lambda grammar: ("grammar", grammar)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", fake_sp)

    class LLM:
        def chat(self, conversations, params, lora_request=None, use_tqdm=False):
            return [types.SimpleNamespace(outputs=[_Choice(f" {i}-{j} ") for j in range(seen["n"])])
                    for i, _ in enumerate(conversations)]

    backend = VLLMBackend.__new__(VLLMBackend)
    backend.llm, backend.lora, backend.grammar = LLM(), None, None
    groups = backend.sample([[{"role": "user", "content": "a"}]] * 2, 32, n=4, temperature=0.9, seed=7)
    assert [[c.text for c in group] for group in groups] == [[f"{i}-{j}" for j in range(4)] for i in range(2)]
    assert (seen["n"], seen["temperature"], seen["seed"], seen["max_tokens"]) == (4, 0.9, 7, 32)
