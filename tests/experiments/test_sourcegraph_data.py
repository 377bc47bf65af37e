"""Synthetic data and the hand-written dev set: valid golds, determinism, held-out templates."""
from __future__ import annotations

import pytest

from querytune.datasets.sourcegraph.templates import HELD_OUT, TEMPLATES
from querytune.experiments import get_task
from querytune.experiments.sourcegraph.generate import examples, stats
from querytune.experiments.sourcegraph.validate import problems_of

TASK = get_task("sourcegraph")
N = 6000


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return examples(N, seed=0)


def test_every_generated_gold_parses_and_validates(rows):
    """(test_sourcegraph_grammar.py feeds them to the decoding grammar token by token.)"""
    bad = [(r["query"], problems_of(r["query"])[0].reason) for r in rows if problems_of(r["query"])]
    assert bad == []


def test_generator_gives_thousands_of_unique_pairs(rows):
    assert len({(r["request"].lower(), r["query"]) for r in rows}) == N


def test_generator_is_deterministic_per_seed():
    assert examples(300, seed=7) == examples(300, seed=7)
    assert examples(300, seed=7) != examples(300, seed=8)


def test_dataset_has_the_example_columns(rows):
    dataset = TASK.generate(50, seed=1)
    assert set(dataset.column_names) == {"request", "query", "candidate_repos", "date", "intent", "template", "split"}
    assert dataset[0] == examples(50, seed=1)[0]


def test_test_split_uses_only_held_out_templates(rows):
    by_split = {split: {r["template"] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
    assert by_split["test"] and by_split["val"]
    assert not by_split["test"] & (by_split["train"] | by_split["val"])
    assert by_split["val"] <= by_split["train"]
    assert all(len(phrasings) >= 6 + HELD_OUT - 2 for phrasings in TEMPLATES.values())


def test_about_a_third_carry_candidates_and_some_must_not_use_them(rows):
    with_candidates = [r for r in rows if r["candidate_repos"]]
    unused = [r for r in with_candidates if "repo:" not in r["query"]]
    assert 0.2 < len(with_candidates) / N < 0.4
    assert len(unused) > 0.3 * len(with_candidates)
    used = [r for r in with_candidates if "repo:^" in r["query"]]
    assert all(any(c.replace(".", "\\.") in r["query"] for c in r["candidate_repos"]) for r in used)


def test_data_covers_commits_diffs_symbols_negation_and_booleans(rows):
    counts = stats(rows)
    assert {"type", "author", "after", "-file", "select", "repo", "lang", "message"} <= set(counts["fields"])
    queries = " ".join(r["query"] for r in rows)
    for piece in ("type:commit", "type:diff", "type:symbol", " OR ", " NOT ", "-file:", "/"):
        assert piece in queries
    assert counts["rows"] == N and sum(counts["splits"].values()) == N


def test_no_escape_artifacts_in_requests_or_golds(rows):
    assert not [r for r in rows if '\\"' in r["query"] or "\\\\" in r["query"] or '\\"' in r["request"]]


def test_dev_set_golds_are_valid_and_hand_written():
    dev = TASK.dev()
    assert len(dev) >= 100
    assert [(r["query"], problems_of(r["query"])[0].reason) for r in dev if problems_of(r["query"])] == []
    requests = {r["request"] for r in dev}
    assert {"find Python files with async functions", "commits by erik in sourcegraph last week",
            "find config files"} <= requests
    assert not requests & {r["request"] for r in examples(2000, seed=0)}
    assert all(r["date"] and isinstance(r["candidate_repos"], list) for r in dev)
