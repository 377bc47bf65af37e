"""Target cleaning (experiments/qmd/clean.py) and our added rows, measured with the scorer."""
import pytest

from querytune.experiments.qmd import clean, data
from querytune.experiments.qmd import heuristics as h
from querytune.experiments.qmd.parse import only_mode
from querytune.experiments.qmd.score import score_expansion
from querytune.experiments.qmd.task import QMDTask


@pytest.fixture(scope="module")
def cleaned():
    rows, _ = data.build(10**6, seed=42, max_hyde_chars=200, clean=True)
    return rows


@pytest.fixture(scope="module")
def plain():
    rows, _ = data.build(10**6, seed=42, max_hyde_chars=200)
    return rows


def test_no_dev_query_is_a_training_query_in_any_file():
    dev = {data.normal_form(e["query"]) for e in QMDTask().dev()}
    shared = {data.normal_form(row["query"]) for row in data.read_raw()}
    added = {data.normal_form(row["query"]) for row in data.read_raw(data.ADDED_DIR)}
    assert len(dev) == 64 and data.training_queries() == shared | added
    assert dev & shared == set() and dev & added == set()
    assert data.normal_form("Fibonacci heap /only:lex") == data.normal_form("fibonacci  Heap")


def test_score_unseen_leaves_out_queries_of_the_training_files():
    task = QMDTask()
    answer = "lex: kubectl get pods namespace\nvec: how do I list running pods with kubectl"
    seen = task.score({"query": data.read_raw()[0]["query"]}, answer)
    unseen = task.score({"query": "kubectl"}, answer)
    assert seen["in_training"] == 1.0 and seen["score_unseen"] != seen["score_unseen"]  # NaN
    assert unseen["in_training"] == 0.0 and unseen["score_unseen"] == unseen["score"]


def test_cleaned_training_targets_keep_every_point_they_can(cleaned):
    train = [row for row in cleaned if row["split"] == "train"]
    assert len(train) == 1834  # 1746 cleaned shared rows + 88 of our 89 (1 repeats a kept shared query)
    assert min(row["target_score"] for row in train) >= clean.MIN_SCORE
    for row in train:
        base = only_mode(row["query"])[1]
        lex = clean.pairs_of(row, "lex")
        assert not any(h.echoes(line, base) or h.has_filler(line, base) for line in lex), row
        for text in clean.pairs_of(row, "hyde"):
            assert not clean.is_template_hyde(text, row["query"]) and len(text) <= 200 and h.repetition(text) < 3
        if not only_mode(row["query"])[0]:
            assert all(clean.pairs_of(row, kind) for kind in ("hyde", "lex", "vec")), row
    # below 80% only /only:hyde rows at that mode's ceiling without entities (95/120)
    assert {row["target_score"] for row in train if row["target_score"] < 80} == {79.2}


def test_cleaning_keeps_the_validation_rows(cleaned, plain):
    val = [r["query"] for r in cleaned if r["split"] == "val"]
    assert val == [r["query"] for r in plain if r["split"] == "val"]
    assert not {q.lower() for q in val} & {r["query"].lower() for r in cleaned if r["split"] == "train"}


def test_added_rows_are_excellent_training_rows_with_ideal_hyde():
    added = data.read_added(200)
    assert len(added) == 89 and all(row["split"] == "train" for row in added)
    assert all(row["target_score"] >= 80 or row["query"].endswith("/only:hyde") for row in added)
    assert all(50 <= len(text) <= 200 for row in added for kind, text in row["output"] if kind == "hyde")


def test_template_rows_and_lines_go():
    query = "swimming stroke techniques"
    row = {"query": query, "output": [
        ["hyde", "This comprehensive guide to swimming stroke techniques covers all the essential information."],
        ["lex", "swimming overview stroke techniques tutorial"], ["vec", "how to swimming stroke techniques"]]}
    assert clean.drop_template_rows(row) is None
    lines = clean.remove_template_lines(clean.remove_filler_words({**row, "output": row["output"][1:]}))
    assert lines["output"] == []


def test_guarded_edits_only_land_when_the_score_does_not_drop():
    row = {"query": "docker compose networking", "output": [
        ["hyde", "Services on one compose network reach each other by service name through Docker's DNS."],
        ["lex", "docker compose bridge networking"], ["lex", "container dns service discovery docker"],
        ["vec", "how do containers talk to each other in docker compose"]]}
    quoted = clean.quote_phrase(row)
    assert quoted["output"][1] == ["lex", '"docker compose" bridge networking']
    assert clean.score(quoted) > clean.score(row)
    # a quote that hides the only key terms of the only lex line costs points: not applied
    lone = {**row, "output": [row["output"][0], ["lex", "docker compose bridge"], row["output"][3]]}
    assert clean.score(clean._quote_phrase(lone)) < clean.score(lone)
    assert clean.quote_phrase(lone) == lone


def test_steps_table_reports_every_step():
    examples, _ = data.load(max_hyde_chars=200)
    table = clean.steps_table(examples[::15])  # every file, the templated ones first
    assert [name for name, _ in table] == ["loaded"] + [name for name, _ in clean.STEPS]
    assert table[-1][1]["filler_lex"] == 0 and table[-1][1]["template_lex"] == 0
    assert table[-1][1]["min"] >= clean.MIN_SCORE


def test_added_rows_score_like_the_scorer_says():
    for row in data.read_raw(data.ADDED_DIR):
        assert score_expansion(row["query"], QMDTask().target(row)).lex_echoes == 0


def test_a_long_one_sentence_hyde_is_cut_at_a_clause_break():
    hyde = ("A research proposal typically includes: title, abstract, introduction with background and "
            "significance, literature review, research questions or hypotheses, methodology, timeline, budget, "
            "and references")
    row = {"query": "research proposal structure", "output": [
        ["hyde", hyde], ["lex", "research proposal sections outline"],
        ["vec", "what sections should a research proposal include"]]}
    cut = clean.pairs_of(clean.shorten_hyde(row), "hyde")[0]
    assert cut == hyde[:hyde.rfind(", ", 0, 200)] + "." and len(cut) <= 200
    assert clean.score(clean.shorten_hyde(row)) > clean.score(row)
