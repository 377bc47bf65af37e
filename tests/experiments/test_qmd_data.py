"""The QMD loader: repairs, deduplication, splits, filters and hyde capping on the real rows."""
import statistics

import pytest

from querytune.experiments.qmd import data


@pytest.fixture(scope="module")
def loaded():
    return data.load()


def test_loader_counts_on_the_shared_rows(loaded):
    examples, report = loaded
    # 336 legacy "only: lex" queries rewritten; 55 of them then duplicate a "/only:lex" row (3118 - 55 = 3063)
    assert (report.raw, report.repaired, report.dropped, report.duplicates, report.kept) == (3579, 336, 0, 516, 3063)
    assert len(examples) == 3063 == len({e["query"].lower() for e in examples})
    assert str(report) == "3579 raw rows: 336 repaired, 0 dropped, 516 duplicate queries removed, 3063 kept"


def test_examples_carry_query_output_category_and_target_score(loaded):
    examples, _ = loaded
    assert all(set(e) == {"query", "output", "category", "target_score"} for e in examples)
    # "keep the first duplicate" without the only-syntax rewrite gives 84.29%
    assert statistics.fmean(e["target_score"] for e in examples) == pytest.approx(87.71, abs=0.01)


@pytest.mark.parametrize("row, expected", [
    ({"query": " auth ", "output": [["LEX ", "auth\nconfig"], ["vec", "how do I log in"]]},
     {"query": "auth", "output": [["lex", "auth config"], ["vec", "how do I log in"]]}),
    ({"query": "auth", "output": [["lex", "auth config"], ["vec", "  "]]},
     {"query": "auth", "output": [["lex", "auth config"]]}),
    ({"query": "ssh keys only: LEX", "output": [["lex", "ssh-keygen ed25519"]]},
     {"query": "ssh keys /only:lex", "output": [["lex", "ssh-keygen ed25519"]]}),
    ({"query": "ssh keys /only:vec", "output": [["vec", "how do I make an ssh key"]]},
     {"query": "ssh keys /only:vec", "output": [["vec", "how do I make an ssh key"]]}),
])
def test_mechanical_target_problems_are_repaired(row, expected):
    assert data.repair(row) == expected


@pytest.mark.parametrize("row", [
    {"query": "auth", "output": [["keywords", "auth config"]]},
    {"query": "auth", "output": [["lex", ""]]},
    {"query": "auth", "output": [["lex", "auth <|im_start|>user"]]},
    {"query": "", "output": [["lex", "auth config"]]},
    {"query": "auth", "output": "lex: auth config"},
    {"query": "auth", "output": [["lex", "auth", "extra"]]},
])
def test_rows_without_a_mechanical_fix_are_dropped(row):
    assert data.repair(row) is None


def test_duplicates_keep_the_intent_free_row_then_the_best_target():
    echo = [["lex", "auth setup"], ["vec", "how to configure authentication"]]
    good = [["lex", "login credentials"], ["vec", "how to configure authentication"]]
    rows = [{"query": "AUTH", "output": good, "intent": "security"}, {"query": "auth", "output": echo},
            {"query": "auth", "output": good}, {"query": "auth", "output": good, "category": "late"}]
    assert data.dedupe(rows) == [{"query": "auth", "output": good}]


@pytest.mark.parametrize("text, cap, expected", [
    ("Short one.", 200, "Short one."),
    ("One two. Three four. Five six.", 20, "One two. Three four."),
    ("Version 3.5 is out. It is fast.", 22, "Version 3.5 is out."),  # 3.5 is not a sentence end
    ("A very long first sentence. Then more.", 10, "A very long first sentence."),  # never mid-sentence
    ("no sentence end at all here", 10, "no sentence end at all here"),
])
def test_cap_hyde_cuts_at_sentence_boundaries(text, cap, expected):
    assert data.cap_hyde(text, cap) == expected


def test_capping_hyde_at_200_characters_raises_the_mean_target_score(loaded):
    capped, _ = data.load(max_hyde_chars=200)
    before = statistics.fmean(e["target_score"] for e in loaded[0])
    after = statistics.fmean(e["target_score"] for e in capped)
    assert (round(before, 2), round(after, 2)) == (87.71, 89.61)


def test_split_is_90_10_and_stable_across_caps_and_filters():
    rows, _ = data.build(10**6, seed=42)
    val = [r["query"] for r in rows if r["split"] == "val"]
    assert (len(rows), len(val)) == (3063, 307)
    filtered, _ = data.build(10**6, seed=42, min_target_score=90.0)
    assert [r["query"] for r in filtered if r["split"] == "val"] == val
    assert all(r["target_score"] >= 90.0 for r in filtered if r["split"] == "train")
    assert len(filtered) < len(rows)
    capped, _ = data.build(100, seed=42)
    assert [r["query"] for r in capped] == [r["query"] for r in rows[:100]]
    assert sum(r["split"] == "val" for r in capped) == 10
    other_seed, _ = data.build(100, seed=7)
    assert [r["query"] for r in other_seed] != [r["query"] for r in capped]


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n=0: must be >= 1"),
    ({"n": 10, "max_hyde_chars": 0}, "max_hyde_chars=0: must be >= 1"),
])
def test_bad_options_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.build(seed=1, **kwargs)
