"""Result kinds and file names as requests say them: symbol searches carry the language they name
and a kind that language has, generic words ("files with", "where do we call") stay a plain search,
spoken file names become the generator's file: regexes, and commits and diffs are scoped by the files
they touch. Requests are read before the surface layer (its typos and short forms are tested apart)."""
from __future__ import annotations

import re

import pytest

from querytune.datasets.sourcegraph import vocab as v
from querytune.experiments.sourcegraph import generate
from querytune.experiments.sourcegraph.intents import SYMBOL_LANG_KINDS
from querytune.experiments.sourcegraph.validate import problems_of
from tests.experiments.test_sourcegraph_conventions import LANG_WORDED

N = 3000
#: words that ask for symbols rather than code: a kind of symbol, "symbol", "definition", "declared"
KIND_WORDS = re.compile(r"\b(symbols?|defin(e|es|ed|ition)|declar(e|ed|ation)|functions?|class(es)?|structs?|"
                        r"interfaces?|methods?|enums?|enum members?|constants?|variables?|modules?|packages?|"
                        r"fields?|constructors?|propert(y|ies)|type parameters?|namespaces?|events?|operators?|"
                        r"keys?|object literals?|objects?)\b", re.I)
LANG = re.compile(r"(^|[\s(])(lang|l|language):(\S+)")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """Rows at seed 0 with their requests as written, before the surface layer varies them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "vary", lambda rng, request, query: (request, []))
        return generate.examples(N, seed=0)


def _symbols(rows: list[dict]) -> list[dict]:
    return [r for r in rows if re.search(r"(^|\s)type:symbol\b", r["query"])]


def test_about_half_of_symbol_searches_name_a_language(rows):
    symbols = _symbols(rows)
    assert len(symbols) > 0.04 * N
    assert sum(bool(LANG.search(r["query"])) for r in symbols) / len(symbols) >= 0.4


def test_a_symbol_language_is_said_before_the_kind_and_as_a_scope(rows):
    """"Go structs named X" and "structs named X in Go" both occur."""
    names = "|".join(sorted({re.escape(n) for lang in SYMBOL_LANG_KINDS for n in v.LANG_NAMES[lang]}, key=len,
                            reverse=True))
    kinds = "|".join(sorted({re.escape(s) for s, _ in v.SYMBOL_KINDS}
                            | {k.replace("-", " ") for _, k in v.SYMBOL_KINDS}, key=len, reverse=True))
    kinded = [r for r in _symbols(rows) if "select:symbol." in r["query"] and LANG.search(r["query"])]
    before = [r for r in kinded if re.search(rf"(?<![\w#+])({names}) ({kinds})\b", r["request"])]
    assert len(before) > 0.2 * len(kinded) and len(kinded) - len(before) > 0.2 * len(kinded)


def test_a_symbol_kind_is_one_its_language_has(rows):
    """No ``select:symbol.struct lang:python``, no Go classes."""
    bad = []
    for r in _symbols(rows):
        kind = re.search(r"select:symbol\.([\w-]+)", r["query"])
        langs = {m.group(3).lower() for m in LANG.finditer(r["query"]) if "-" not in m.group(0)}
        if kind and langs and any(kind.group(1) not in SYMBOL_LANG_KINDS.get(lang, []) for lang in langs):
            bad.append((r["request"], r["query"]))
    assert bad == []


def test_type_symbol_only_where_the_request_asks_for_symbols(rows):
    """A request without a kind of result ("where do we call X", "jump to X") is a code search."""
    assert [r["request"] for r in _symbols(rows) if not KIND_WORDS.search(r["request"])] == []


#: heads with generic words: a plain search for the content, never a result shape
GENERIC = re.compile(r"^(files with|files that mention|where do we call)\b", re.I)


def test_generic_words_give_a_plain_search(rows):
    generic = [r for r in rows if GENERIC.search(r["request"])]
    assert len(generic) > 0.003 * N
    assert [(r["request"], r["query"]) for r in generic if re.search(r"(^|\s)(select|type):", r["query"])] == []


def test_select_file_only_where_the_request_asks_for_names_or_paths(rows):
    listed = [r for r in rows if re.search(r"(^|\s)select:file(\s|$)", r["query"])]
    assert len(listed) > 0.01 * N
    assert [r["request"] for r in listed if not re.search(r"file (names|paths|list)|(paths|names) of files|"
                                                          r"matching files", r["request"], re.I)] == []


#: spoken file names -> the file: regex each becomes
SPOKEN_FILES = {"Dockerfiles": "Dockerfile", "docker files": "Dockerfile", ".proto files": r"\.proto$",
                "proto files": r"\.proto$", "Maven pom files": r"pom\.xml$", "pom.xml": r"pom\.xml$",
                "go.mod": r"go\.mod$", "go.sum files": r"go\.sum$", "pip requirements files": r"requirements\.txt$",
                "Travis configs": r"\.travis\.yml$", "GitHub Actions workflows": r"^\.github/workflows/",
                "GitHub workflows": r"^\.github/workflows/", "tfvars files": r"\.tfvars$",
                ".jsx and .tsx files": r"\.(jsx|tsx)$", "TSX files": r"\.tsx$", "yarn lockfiles": r"yarn\.lock$",
                "Gradle build files": r"build\.gradle", "GitLab CI configs": r"\.gitlab-ci\.yml$",
                "Cargo manifests": r"Cargo\.toml$", "npm manifests": r"package\.json$"}


def test_spoken_file_names_are_the_generators_file_regexes():
    said = {s: regex for regex, says in v.FILE_KINDS for s in says}
    assert {s: said.get(s) for s in SPOKEN_FILES if said.get(s) != SPOKEN_FILES[s]} == {}
    assert len(v.FILE_KINDS) >= 50 and sum(len(says) >= 3 for _, says in v.FILE_KINDS) >= 40
    assert [regex for regex, _ in v.FILE_KINDS if problems_of(f"file:{regex}")] == []
    assert [s for s in said if LANG_WORDED.search(s) or s.lower().startswith(("the ", "a ", "all "))] == []


def test_file_lists_say_a_way_to_say_their_regex(rows):
    says = dict(v.FILE_KINDS)
    listed = [(r, re.search(r"(^|\s)file:(\S+)", r["query"])) for r in rows if r["intent"] == "file_list"]
    listed = [(r, found.group(2)) for r, found in listed if found and found.group(2) in says]
    assert len(listed) > 0.02 * N
    assert [(r["request"], regex) for r, regex in listed
            if not any(s.lower() in r["request"].lower() for s in says[regex])] == []


def test_commits_and_diffs_are_scoped_by_the_files_they_touch(rows):
    changes = [r for r in rows if re.search(r"(^|\s)type:(commit|diff)\b", r["query"])]
    touched = [r for r in changes if re.search(r"(^|\s)(file|f|path):(?!has\.)", r["query"])]
    assert len(touched) > 0.15 * len(changes)
    assert sum(bool(re.search(r"\b(touching|that changed|who touched)\b", r["request"]))
               for r in touched) > 0.2 * len(touched)
    who = [r for r in rows
           if re.match(r"who (touched|changed|last edited|modified|has been changing)\b", r["request"], re.I)]
    assert len(who) > 0.003 * N
    assert [(r["request"], r["query"]) for r in who if not r["query"].startswith("type:commit")
            or not re.search(r"(^|\s)(file|f|path):", r["query"]) or "author:" in r["query"]] == []
