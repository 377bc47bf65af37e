"""Scope phrasings a trained model got wrong on dev: negations said the way people say them
(``-lang:``/``-file:``/``-repo:``, two languages at once), repos named bare ("grep django for X"),
search contexts in their many spellings, and repo predicates by description, metadata key and
staleness. Each test counts rows of the seed-0 data, so it fails when the phrasings go missing."""
from __future__ import annotations

import re

import pytest

from querytune.datasets.sourcegraph import vocab as v
from querytune.experiments.sourcegraph.generate import examples
from querytune.experiments.sourcegraph.grammar import parse_query

N = 3000
#: the negation words the model read as a positive filter or dropped
NEGATION = re.compile(r"\b(outside|not in|excluding|ignore|ignoring|other than|not written in|anywhere but|"
                      r"everything but)\b", re.IGNORECASE)
NEGATED_LANG = re.compile(r"(?<![\w-])-(lang|l|language):(\S+)")
REPO_WORD = re.compile(r"\b(repo|repos|repository|repositories|codebase)\b", re.IGNORECASE)
#: how a request leads with a bare repo name instead of a head
LED = {"grep": r"^(grep|search|check|look in|dig through) (the )?{name} for ", "colon": r"^(the )?{name}: ",
       "does": r"^does (the )?{name} (use|have) ", "after": r" in (the )?{name}$",
       "commits": r"^(the )?{name} (commits|commit history|diffs|changes) "}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return examples(N, seed=0)


def _said(lang: str) -> re.Pattern:
    names = "|".join(re.escape(name) for name in v.LANG_NAMES[lang])
    return re.compile(rf"(?<![\w#+-])({names})(?![\w#+])", re.IGNORECASE)


def test_excluded_languages_are_said_with_negation_words(rows):
    negated = [r for r in rows if NEGATED_LANG.search(r["query"])]
    assert len(negated) > 0.008 * N
    worded = [r for r in negated if NEGATION.search(r["request"])]
    assert len(worded) > 0.3 * len(negated)  # not only "no X" / "minus X"
    assert all(_said(lang).search(r["request"]) for r in negated for _, lang in NEGATED_LANG.findall(r["query"]))


def test_two_languages_are_left_out_with_one_phrase(rows):
    """"outside HTML and CSS" -> -lang:html -lang:css: both languages said, both negated."""
    double = [r for r in rows if len(NEGATED_LANG.findall(r["query"])) == 2]
    assert len(double) >= 3  # ~9 expected in 3,000 rows; seeds 0-5 gave 4 to 16
    assert all(re.search(r"\b(and|or)\b", r["request"]) for r in double)


def test_excluded_files_and_repos_are_said_with_negation_words(rows):
    files = [r for r in rows if re.search(r"(^|\s)(-|NOT )(file|f|path):(?!has\.)", r["query"])]
    repos = [r for r in rows if re.search(r"(^|\s)-(repo|r):(?!has\.)", r["query"])]
    assert sum(bool(NEGATION.search(r["request"])) for r in files) > 0.3 * len(files) > 0
    assert sum(bool(NEGATION.search(r["request"])) for r in repos) > 0.3 * len(repos) > 0


def _named(row: dict) -> str | None:
    """The repo name a gold writes as said (``repo:django``), not pinned nor an org."""
    m = re.search(r"(?:^|\s)(?:repo|r):(?!\^|has\.|\()([^\s@]+)", row["query"])
    return m.group(1).replace("\\", "") if m and not m.group(1).endswith("/") else None


def test_repos_are_named_bare_in_several_positions(rows):
    """"grep django for X", "django: X", "does next.js use X", "X in vscode", "vscode commits by tom"."""
    named = [(r, _named(r)) for r in rows if _named(r)]
    bare = [(r, name) for r, name in named if not REPO_WORD.search(r["request"])]
    assert len(named) > 0.04 * N and len(bare) > 0.5 * len(named)
    names = "(" + "|".join(sorted({re.escape(m) for _, ms in v.REPOS for m in ms}, key=len, reverse=True)) + ")"
    one_repo = [r for r in rows if re.search(r"(^|\s)(repo|r):(?!has\.)[^\s|]+(\s|$)", r["query"])]
    led = {kind: sum(bool(re.search(form.format(name=names), r["request"].rstrip("?."), re.I)) for r in one_repo)
           for kind, form in LED.items()}
    assert all(count >= 3 for count in led.values()), led


def test_contexts_are_said_many_ways_and_add_no_other_filter(rows):
    contexts = [r for r in rows if "context:" in r["query"]]
    assert len(contexts) > 0.03 * N
    names = [re.search(r"context:(\S+)", r["query"]).group(1) for r in contexts]
    assert sum("@" in r["request"] for r in contexts) > 0.2 * len(contexts)  # "the @acme/mobile context"
    assert sum(bool(re.search(r"\w's\b", r["request"])) for r in contexts) > 0.2 * len(contexts)  # "priya's"
    assert sum(bool(re.fullmatch(r"@\w+/\S+", n)) and n.split("/")[0][1:] in v.CONTEXT_USERS for n in names) > 10
    for r, name in zip(contexts, names):
        query = parse_query(r["query"])
        assert [t.strip("()") for t in r["query"].split()].count(name) == 0  # the name once, never as a pattern
        langs = {p.value.lower() for p in query.params() if p.field == "lang"}
        assert all(_said(lang).search(r["request"]) for lang in langs), (r["request"], r["query"])


def test_repo_predicates_are_said_by_description_metadata_key_and_staleness(rows):
    def said(param: str, words: str) -> int:
        return sum(param in r["query"] and bool(re.search(words, r["request"])) for r in rows)

    # ~3 expected in 3,000 rows; seeds 0-5 gave 1 to 6
    assert said("repo:has.description(", r"whose description|description (says|mentions|saying)") >= 1
    assert said("repo:has.meta(", r"\bmetadata key\b|key in their metadata|in their metadata") >= 10
    assert said("-repo:has.commit.after(", r"stale|untouched|nothing (committed|pushed)|haven't been touched") >= 5
    assert said("repo:has.path(", r"\bevery repo with\b|\bcome with\b|\bchecked in\b") >= 3
