"""QMDTask through the registry: prompt, target, metrics, data, dev queries, grammar, stats."""
import pytest

from querytune.experiments.base import Task, get_task
from querytune.experiments.qmd.data import read_raw
from querytune.experiments.qmd.parse import only_mode


@pytest.fixture(scope="module")
def task():
    return get_task("qmd")


@pytest.fixture(scope="module")
def dataset(task):
    return task.generate(10**6, seed=42)


def test_registry_gives_a_task_with_a_versioned_scorer(task):
    assert isinstance(task, Task) and task.name == "qmd" and task.scorer_version == 1


def test_prompt_is_the_serving_prompt_without_intent(task):
    example = {"query": "python memory leak debugging", "intent": "debugging a Python application"}
    assert task.messages(example) == [
        {"role": "user", "content": "/no_think Expand this search query: python memory leak debugging"}]


def test_target_is_written_in_canonical_order_and_parses(task):
    example = {"output": [["lex", "a b"], ["vec", "how does c work"], ["hyde", "C works."], ["lex", "d e"]]}
    text = task.target(example)
    assert text == "hyde: C works.\nlex: a b\nlex: d e\nvec: how does c work"
    assert task.parse(text).value == {"lex": ["a b", "d e"], "vec": ["how does c work"], "hyde": "C works."}


def test_score_keys_are_the_declared_metrics(task):
    result = task.score({"query": "auth"}, "lex: auth setup\nvec: how to configure authentication")
    assert set(result) == set(task.metrics)
    assert result == {"score": 0.5, "pct": 50.0, "reward": pytest.approx(100 / 120), "score_unseen": 0.5,
                      "in_training": 0.0, "format_ok": 1.0,
                      "hyde_present": 0.0, "lex_echo": 1.0, "excellent": 0.0, "good": 0.0, "acceptable": 1.0,
                      "poor": 0.0, "failed": 0.0}


def test_empty_answer_scores_half_but_is_not_format_ok(task):
    result = task.score({"query": "auth"}, "")
    assert (result["score"], result["format_ok"], result["acceptable"]) == (0.5, 0.0, 1.0)


def test_rambling_answer_fails(task):
    result = task.score({"query": "auth"}, "Sure! Here are some ideas:\nlex: auth")
    assert (result["score"], result["format_ok"], result["failed"]) == (0.0, 0.0, 1.0)


def test_generate_gives_the_deduplicated_rows_with_a_split(dataset):
    assert set(dataset.column_names) == {"query", "output", "category", "target_score", "split"}
    assert len(dataset) == 3063 and dataset["split"].count("val") == 307


def test_every_generated_target_parses_and_fits_the_grammar_line_count(task, dataset):
    for row in dataset:
        lines = task.target(row).split("\n")
        assert 1 <= len(lines) <= 7 and task.parse("\n".join(lines)).value


def test_stats_report_shapes_modes_and_target_scores(task, dataset):
    stats = task.stats(dataset)
    assert stats["rows"] == 3063 and stats["splits"] == {"train": 2756, "val": 307}
    assert stats["shapes"]["hyde+3lex+2vec"] > stats["shapes"]["hyde+2lex+2vec"] > stats["shapes"]["2vec"]
    assert stats["only_mode"] == {"normal": 2384, "lex": 231, "vec": 225, "hyde": 223}
    assert stats["target_score"]["mean"] == pytest.approx(87.71, abs=0.01)
    assert sum(stats["target_score"]["ratings"].values()) == 3063
    assert 0 < stats["hyde_in_ideal_range"] < 0.5


def test_dev_queries_are_new_and_varied(task):
    queries = [example["query"] for example in task.dev()]
    training = {row["query"].strip().lower() for row in read_raw()}
    training_bases = {only_mode(query)[1] for query in training}
    bases = [only_mode(query)[1] for query in queries]
    assert len(queries) >= 60 and len(set(map(str.lower, queries))) == len(queries)
    assert not [q for q, b in zip(queries, bases) if q.lower() in training or b.lower() in training_bases]
    assert {only_mode(query)[0] for query in queries} == {None, "lex", "vec", "hyde"}
    assert sum(len(b.split()) <= 2 for b in bases) >= 10 and sum(len(b.split()) >= 8 for b in bases) >= 5
