"""The conventions the generated golds follow where a request could be read two ways: a named
language is ``lang:``, counts only when asked, exact multi-word text is a quoted phrase, and
named candidate repos are pinned (one, several, or excluded; "in both repos" pins exactly the candidates)."""
from __future__ import annotations

import re

import pytest

from querytune.datasets.sourcegraph import vocab as v
from querytune.experiments.sourcegraph.generate import examples
from querytune.experiments.sourcegraph.grammar import parse_query

N = 6000

_SPOKEN_LANGS = sorted({re.escape(name) for lang, names in v.LANGUAGES if lang not in ("dockerfile", "makefile")
                        for name in names}, key=len, reverse=True)
#: "Python files", "Go code", "ruby scripts", "nginx configs": a language named as a kind of file
LANG_WORDED = re.compile(r"(?<![\w.#+-])(" + "|".join(_SPOKEN_LANGS) + r")\s+"
                         r"(files|code|scripts|sources|configs|definitions|components|docs)\b")
#: file regex -> the one language whose files it matches
FILE_LANG = {r"main\.go$": "go", r"_test\.go$": "go", r"\.pb\.go$": "go", r"go\.mod$": "go", r"setup\.py$": "python",
             r"setup\.(py|cfg)$": "python", r"\.test\.ts$": "typescript", r"index\.ts$": "typescript",
             r"\.ya?ml$": "yaml", r"values\.ya?ml$": "yaml", r"^\.github/workflows/": "yaml", r"package\.json$": "json",
             r"tsconfig.*\.json$": "json", r"nginx.*\.conf$": "nginx", r"\.min\.js$": "javascript"}
EXTENSION_LANG = {".go": "go", ".py": "python", ".ts": "typescript", ".tsx": "typescript", ".rb": "ruby",
                  ".java": "java", ".rs": "rust", ".proto": "protobuf", ".sql": "sql", ".tf": "hcl", ".sh": "shell",
                  ".md": "markdown", ".json": "json", ".kt": "kotlin", ".swift": "swift", ".vue": "vue",
                  ".scss": "scss", ".graphql": "graphql", ".yaml": "yaml"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return examples(N, seed=0)


def _file_lang(regex: str) -> str | None:
    """The language a file regex limits results to, if it only matches one language's files."""
    if regex in FILE_LANG:
        return FILE_LANG[regex]
    extension = re.search(r"(\\\.\w+)\$$", regex)
    return EXTENSION_LANG.get(extension.group(1).replace("\\", "")) if extension else None


def test_a_language_named_as_files_or_code_is_lang(rows):
    named = [r for r in rows if LANG_WORDED.search(r["request"])]
    assert len(named) > 0.03 * N
    assert [(r["request"], r["query"]) for r in named if not re.search(r"(^|[\s(])-?(lang|l|language):",
                                                                       r["query"])] == []


def test_no_query_scopes_two_languages_that_contradict(rows):
    """At most one language (or an explicit OR of them), and no file filter of another language."""
    bad = []
    for r in rows:
        params = parse_query(r["query"]).params()
        langs = {p.value.lower() for p in params if p.field == "lang" and not p.negated}
        files = {_file_lang(p.value) for p in params if p.field == "file" and not p.negated and not p.predicate}
        if len(langs) > 1 and not re.search(r"\(lang:\S+ OR lang:", r["query"]) or langs and files - {None} - langs:
            bad.append((r["request"], r["query"]))
    assert bad == []


def test_languages_named_by_their_file_are_file_filters(rows):
    """'Dockerfiles' spells a file name: file:Dockerfile, never lang:dockerfile."""
    assert [r["query"] for r in rows if re.search(r"\blang:(dockerfile|makefile)\b", r["query"], re.I)] == []


#: the only ways a request asks for an unlimited result set
UNLIMITED = re.compile(r"no limit|every single|unlimited|don't cap|no (result )?cap|not just the first page|"
                       r"result limit", re.IGNORECASE)


def test_count_all_only_for_an_explicit_unlimited_request(rows):
    assert [r["request"] for r in rows if re.search(r"\bcount:all\b", r["query"], re.I)
            and not UNLIMITED.search(r["request"])] == []


def test_plain_all_or_every_adds_no_count(rows):
    """"show me all TODOs" is every TODO already: no count filter unless a limit is asked for."""
    worded = [r for r in rows if re.search(r"\b(all|every|everything)\b", r["request"], re.I)
              and not UNLIMITED.search(r["request"]) and not re.search(r"\d", r["request"])]
    assert len(worded) > 0.06 * N
    assert [(r["request"], r["query"]) for r in worded if "count:" in r["query"]] == []


def test_a_result_count_is_carried_exactly(rows):
    sized = [(r["request"], re.search(r"\bcount:(\d+)", r["query"])) for r in rows]
    sized = [(request, found.group(1)) for request, found in sized if found]
    assert len(sized) > 0.01 * N
    assert [(request, n) for request, n in sized if not re.search(rf"(?<![\d,]){n}(?!\d|,\d)", request)] == []


#: how a request says it wants exact text
EXACT = re.compile(r"exact (text|string|phrase)|literally|\bexactly\b|the characters|the snippet\b", re.IGNORECASE)
#: how a request asks for the literal pattern type by name
LITERAL_MODE = re.compile(r"literal(-| search )?mode|literal pattern type", re.IGNORECASE)


def test_exact_text_is_a_quoted_phrase_not_a_pattern_type(rows):
    exact = [r for r in rows if EXACT.search(r["request"]) and not LITERAL_MODE.search(r["request"])]
    assert len(exact) > 0.02 * N
    assert [(r["request"], r["query"]) for r in exact if "patterntype:" in r["query"]] == []
    kinds = [[p.kind for p in parse_query(r["query"]).patterns()] for r in exact]
    split = [r["query"] for r, k in zip(exact, kinds) if "quoted" not in k and k.count("word") > 1
             and not re.search(r"\b(AND|OR|NOT)\b", r["query"])]
    assert split == []  # several words of exact text are never left as separate terms


def test_quoted_phrases_are_a_healthy_share_and_never_wrap_one_identifier(rows):
    patterns = [(r["query"], p) for r in rows for p in parse_query(r["query"]).patterns()]
    assert len({q for q, p in patterns if p.kind == "quoted"}) >= 0.08 * N
    assert [q for q, p in patterns if p.kind == "quoted" and re.fullmatch(r"\w+", p.value.strip("\"'"))] == []


def _pinned(query: str, negated: bool = False) -> list[list[str]]:
    """The candidate repos each anchored repo filter picks: ``repo:^github\\.com/o/(a|b)$`` -> [[o/a, o/b]]."""
    sign = "-" if negated else r"(?<!-)"
    picks = []
    for body in re.findall(sign + r"\b(?:repo|r):\^github\\\.com/(.*?)\$", query):
        body = body.replace("\\.", ".")
        org, _, names = body.partition("/(") if "/(" in body else ("", "", body)
        alternatives = names.strip("()").split("|")
        picks.append([f"github.com/{org}/{x}" if org else f"github.com/{x}" for x in alternatives])
    return picks


def _said(full: str, request: str) -> bool:
    """Whether the request names the repo, the way ``vocab.REPOS`` says it."""
    mentions = dict(v.REPOS)[full]
    return any(re.search(rf"(?<![\w/-]){re.escape(m)}(?![\w/-])", request, re.I) for m in mentions)


#: several repos named together ("in both repos"): only when they are exactly the candidates
TOGETHER = re.compile(r"\b(both|all three|each of the [23])\b[\w ]*\b(repos|repositories|services)\b")


def test_several_named_candidates_are_one_alternation(rows):
    several = [(r, picks[0]) for r in rows for picks in [_pinned(r["query"])] if picks and len(picks[0]) > 1]
    assert len(several) > 0.02 * N
    assert [r["query"] for r, picked in several if len(_pinned(r["query"])) != 1] == []
    together = [r for r, picked in several if TOGETHER.search(r["request"]) and set(picked) == set(r["candidate_repos"])]
    assert len(together) > 0.003 * N
    assert [(r["request"], r["query"], r["candidate_repos"]) for r, picked in several if r not in together
            and (not set(picked) <= set(r["candidate_repos"]) or not all(_said(x, r["request"]) for x in picked))] == []


def test_one_named_candidate_is_pinned_alone(rows):
    single = [(r, picks[0][0]) for r in rows for picks in [_pinned(r["query"])] if picks and len(picks[0]) == 1]
    assert len(single) > 0.05 * N
    assert [r["query"] for r, full in single if full not in r["candidate_repos"]] == []


def test_an_excluded_candidate_is_a_pinned_negated_repo(rows):
    """"every repo except checkout" with checkout among the candidates -> -repo:^github\\.com/o/checkout$."""
    excluded = [(r, picks[0][0]) for r in rows for picks in [_pinned(r["query"], negated=True)] if picks]
    assert len(excluded) > 0.008 * N
    assert [(r["request"], r["query"]) for r, full in excluded
            if full not in r["candidate_repos"] or not _said(full, r["request"]) or _pinned(r["query"])] == []


def test_a_relative_point_in_time_is_a_quoted_at_time(rows):
    """"as of two weeks ago" in a named repo -> rev:at.time("2 weeks ago")."""
    relative = [r["query"] for r in rows if re.search(r'rev:at\.time\("\d+ \w+ ago"\)', r["query"])]
    assert len(relative) > 0.003 * N
    assert all(re.search(r"(^|\s)(repo|r):", q) for q in relative)


def test_a_request_that_says_regex_gets_the_regexp_pattern_type(rows):
    said = [r for r in rows if re.search(r"\bregexp?\b|regular expression", r["request"], re.I)]
    assert len(said) > 0.01 * N
    assert [(r["request"], r["query"]) for r in said if "patterntype:regexp" not in r["query"]] == []
