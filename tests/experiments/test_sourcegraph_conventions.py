"""The conventions the generated golds follow where a request could be read two ways: a named
language is ``lang:``, counts only when asked, exact multi-word text is a quoted phrase,
named candidate repos are pinned (one, several, or excluded; "in both repos" pins exactly the candidates),
and each result shape has one gold form per meaning, whatever the template (see ``templates.py``)."""
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
LANG_WORDED = re.compile(r"(?<![\w.#+/-])(" + "|".join(_SPOKEN_LANGS) + r")\s+"
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


def _snippet_langs() -> dict[str, set[str]]:
    """Code text of one table language -> the languages it is written in (``vocab.CODE`` and
    concepts.yaml), also as the escaped regex a regexp-mode search writes; text a language-agnostic
    table also holds ("TODO", "chmod 777") may be searched in any language and is left out."""
    from querytune.datasets.sourcegraph.pieces import regex_escape

    langs: dict[str, set[str]] = {}
    for lang, code in [(lang, code) for lang, codes in v.CODE.items() for code in codes] + \
            [(lang, code) for lang, code, _ in v.CONCEPTS]:
        langs.setdefault(code, set()).add(lang)
    agnostic = set(v.TERMS) | set(v.MESSAGES) | set(v.PHRASES) | set(v.LITERALS) | {t for _, t in v.TOPICS}
    known = {code: found for code, found in langs.items() if code not in agnostic}
    return known | {regex_escape(code): found for code, found in known.items() if regex_escape(code) not in known}


def test_a_code_snippet_is_scoped_to_its_own_language_only(rows):
    """"async def" is Python: never under ``lang:go``, ``-lang:python`` or a Go file filter."""
    snippets, mixed, seen = _snippet_langs(), [], 0
    for r in rows:
        parsed = parse_query(r["query"])
        params = [p for p in parsed.params() if not p.predicate]
        langs = {p.value.lower() for p in params if p.field == "lang" and not p.negated}
        langs |= {_file_lang(p.value) for p in params if p.field == "file" and not p.negated} - {None}
        excluded = {p.value.lower() for p in params if p.field == "lang" and p.negated}
        words = [x.value for x in parsed.patterns()]
        if parsed.pattern_type() in ("literal", "standard"):  # adjacent terms are one string ("?? 0")
            words = [" ".join(words)]
        texts = words + [p.value for p in params if p.field == "content"]
        for written in [snippets[text] for text in texts if text in snippets]:
            seen += bool(langs)
            if langs and not written & langs or written & excluded:
                mixed.append((r["request"], r["query"]))
    assert seen > 0.05 * N  # snippets under a language are common, so the check has rows to check
    assert mixed == []


def test_languages_named_by_their_file_are_file_filters(rows):
    """'Dockerfiles' spells a file name: file:Dockerfile, never lang:dockerfile."""
    assert [r["query"] for r in rows if re.search(r"\blang:(dockerfile|makefile)\b", r["query"], re.I)] == []


#: the only ways a request asks for an unlimited result set
UNLIMITED = re.compile(r"no limit|every single|unlimited|don't cap|no (result )?cap|not just (the )?first page|"
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
    assert len(exact) > 0.015 * N  # a share of its own (about 2% of rows), not a stray phrasing
    assert [(r["request"], r["query"]) for r in exact if "patterntype:" in r["query"]] == []
    kinds = [[p.kind for p in parse_query(r["query"]).patterns()] for r in exact]
    split = [r["query"] for r, k in zip(exact, kinds) if "quoted" not in k and k.count("word") > 1
             and not re.search(r"\b(AND|OR|NOT)\b", r["query"])]
    assert split == []  # several words of exact text are never left as separate terms


def test_quoted_phrases_are_a_healthy_share_and_never_wrap_one_identifier(rows):
    patterns = [(r["query"], p) for r in rows for p in parse_query(r["query"]).patterns()]
    assert len({q for q, p in patterns if p.kind == "quoted"}) >= 0.08 * N
    assert [q for q, p in patterns if p.kind == "quoted" and re.fullmatch(r"\w+", p.value.strip("\"'"))] == []


def test_a_multi_word_message_is_quoted_however_the_request_says_it(rows):
    """"find where we log connection refused" -> ``"connection refused"``, as if it were pasted in
    quotes (standard mode aside, where quotes are matched literally)."""
    messages = sorted((m for m in v.MESSAGES if " " in m), key=len, reverse=True)
    named = [(r, m) for r in rows if "patterntype:standard" not in r["query"]
             for m in [next((m for m in messages if m in r["request"]), None)] if m]
    unquoted = [(r, m) for r, m in named if not re.search(rf"[\"']{re.escape(m)}[\"']", r["request"])]
    assert len(unquoted) > 0.01 * N
    assert [(r["request"], r["query"]) for r, m in named
            if not re.search(rf'"[^"]*{re.escape(m)}[^"]*"', r["query"])] == []


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
TOGETHER = re.compile(r"\b(both|all three|these (two|three)|each of (the )?[23])\b"
                      r"[\w ]*\b(repos|repositories|services)\b", re.I)


def test_several_named_candidates_are_one_alternation(rows):
    several = [(r, picks[0]) for r in rows for picks in [_pinned(r["query"])] if picks and len(picks[0]) > 1]
    assert len(several) > 0.02 * N
    assert [r["query"] for r, picked in several if len(_pinned(r["query"])) != 1] == []
    together = [r for r, picked in several
                if TOGETHER.search(r["request"]) and set(picked) == set(r["candidate_repos"])]
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


# ---------------------------------------------------------------- result shapes: one gold form per meaning

#: a repo condition on code content, as both repo lists and repo scopes say it
CODE_CONDITION = re.compile(r"\b(mention \S+ somewhere|contain \S+ anywhere|reference \S+ at all|"
                            r"(have|contain) .+ (mentioning|that contain|with) \S+( in them)?)")


def test_repos_listed_by_their_code_are_select_repo(rows):
    """"which repos mention nats" is ``select:repo nats`` in every template; ``repo:has.content``
    and ``repo:has.file`` only scope another search ("Y in repos that mention X")."""
    listed = [r for r in rows if r["intent"] in ("repo_list", "select_repo") and parse_query(r["query"]).patterns()]
    assert len(listed) > 0.04 * N
    assert [(r["request"], r["query"]) for r in listed if not re.search(r"(^|\s)select:repo\b", r["query"])
            or re.search(r"repo:has\.(content|file)\(", r["query"])] == []
    scoped = [r for r in rows if re.search(r"(^|\s)repo:has\.(content|file)\(", r["query"])]
    assert len(scoped) > 0.015 * N
    assert [(r["request"], r["query"]) for r in scoped if "select:repo" in r["query"]
            or not _searches_files(r["query"]) or not CODE_CONDITION.search(r["request"])] == []


def _searches_files(query: str) -> bool:
    """Whether a query looks for files (a pattern, ``content:``, a file or language filter), not repos."""
    return bool(parse_query(query).patterns()) or bool(re.search(r"(^|\s)-?(content|file|f|path|lang|l|language):",
                                                                 re.sub(r"\(.*?\)", "", query)))


#: how a content-results head sets file contents against names; how a matched-lines head asks for lines
NOT_NAMES = re.compile(r"not (file ?names|their names|file paths|file name hits)|(skip|no) path matches", re.I)
#: (articles optional: a share of requests drop them, surface.py)
JUST_LINES = re.compile(r"(just|only) (show )?(the )?(matching|matched) (lines|text)|(just|only) (the )?lines|"
                        r"exact matches of|snippets that match|matched lines", re.I)


def test_content_only_results_are_type_file_and_matched_lines_select_content(rows):
    """``type:file`` exactly where the request says contents, not names; ``select:content`` exactly
    where it asks for just the matching lines; never a request that says both."""
    for pattern, gold in ((NOT_NAMES, "type:file"), (JUST_LINES, "select:content")):
        worded = {r["request"] for r in rows if pattern.search(r["request"])}
        golds = {r["request"] for r in rows if re.search(rf"(^|\s){gold}(\s|$)", r["query"])}
        assert len(golds) > 0.01 * N
        assert (sorted(worded - golds), sorted(golds - worded)) == ([], [])
    assert [r["request"] for r in rows if NOT_NAMES.search(r["request"]) and JUST_LINES.search(r["request"])] == []


#: symbols named or matching a thing; symbols of the code that mentions it
SYMBOLS_NAMED = re.compile(r"symbol (search|results)|search symbols|symbols (that )?match", re.I)
SYMBOLS_OF_CODE = re.compile(r"symbols (in|of|from) (the )?(code|files)|symbols are defined in files|"
                             r"symbols live in code", re.I)


def test_symbols_named_are_type_symbol_and_select_symbol_is_the_symbols_of_matching_code(rows):
    named = [r for r in rows if SYMBOLS_NAMED.search(r["request"])]
    of_code = [r for r in rows if re.search(r"(^|\s)select:symbol(\s|$)", r["query"])]
    assert len(named) > 0.005 * N and len(of_code) > 0.01 * N
    assert [(r["request"], r["query"]) for r in named if not r["query"].startswith("type:symbol")
            or re.search(r"select:symbol(\s|$)", r["query"])] == []
    assert [(r["request"], r["query"]) for r in of_code if not SYMBOLS_OF_CODE.search(r["request"])
            or "type:symbol" in r["query"]] == []


def test_nls_searches_the_thing_described_without_the_request_framing(rows):
    """"plain-language search, code that implements tls certificate reload" ->
    ``patterntype:nls tls certificate reload``: the same pattern for every head and framing."""
    nls = [r for r in rows if "patterntype:nls" in r["query"]]
    framed = [r for r in nls if re.search(r"code that implements|how we handle|how .+ works", r["request"])]
    assert len(nls) > 0.005 * N and framed
    topics = {spoken for spoken, _ in v.TOPICS}
    assert [(r["request"], r["query"]) for r in nls
            if " ".join(p.value for p in parse_query(r["query"]).patterns()) not in topics] == []


def test_repos_by_name_say_name_and_projects_are_never_directories(rows):
    """``type:repo`` only where the request says the repo's name; "projects" are repos."""
    by_name = [r for r in rows if r["query"].startswith("type:repo")]
    assert len(by_name) > 0.01 * N
    assert [r["request"] for r in by_name if not re.search(r"\bnamed?\b|\bnames?\b|\bcalled\b", r["request"])] == []
    assert [(r["request"], r["query"]) for r in rows if re.search(r"\b(projects|packages)\b", r["request"])
            and "select:file.directory" in r["query"]] == []


def test_removed_code_is_the_removed_side_of_diffs(rows):
    """"find the commits where X was removed", "show diffs that delete X": one form,
    ``type:diff select:commit.diff.removed``, never a commit search."""
    removed = [r for r in rows if re.search(r"\b(who removed|was deleted|commits that removed|diffs deleting|took out|"
                                            r"removed lines|stop using|ripped out|was removed|diffs that delete)\b",
                                            r["request"], re.I)]
    assert len(removed) > 0.01 * N
    assert [(r["request"], r["query"]) for r in removed
            if not r["query"].startswith("type:diff select:commit.diff.removed")] == []
