"""The strict parser+validator: what is a valid Sourcegraph query, and why not."""
from __future__ import annotations

import pytest

from querytune.experiments.base import ParseError
from querytune.experiments.sourcegraph.validate import REASONS, check, problems_of

VALID = [
    "lang:python async",
    'lang:python "async def"',
    "r:foo L:Golang f:main.go x",
    "Repo:sourcegraph/sourcegraph Language:TypeScript useEffect",
    "repo:^github\\.com/kubernetes/kubernetes$ file:_test\\.go$ t.Parallel()",
    "repo:sourcegraph@main:v5.0.0 zoekt",
    "repo:sourcegraph@ zoekt",
    "repo:sourcegraph rev:*refs/heads/*:*!refs/heads/old* foo",
    "repo:x rev:at.time(2024-01-01, main) foo",
    "repo:has.file(path:go\\.mod content:gin) select:repo",
    "repo:contains.path(Dockerfile)",
    "-repo:has.content(TODO) lang:go",
    "repo:has.meta(team:backend) x",
    "repo:has.topic(machine-learning)",
    "repo:has.commit.after(1 month ago)",
    "file:has.owner(@platform) redis",
    "-file:has.owner() lang:go",
    "file:(a|b)\\.go$ x",
    "file:test(s)? foo",
    "NOT file:test foo",
    "-file:vendor/ -lang:javascript foo",
    "foo NOT bar",
    "foo AND NOT bar",
    "(foo OR bar) baz",
    "a or b and c",
    "repo:foo (a or (b and c)) file:x",
    "/AKIA[0-9A-Z]{16}/",
    "/console\\.(log|debug)\\(/ lang:js",
    'content:"a OR b"',
    '"a \\"quoted\\" phrase"',
    "'single quoted'",
    "http://example.com std::vector",
    "type:commit author:erik after:\"1 week ago\"",
    "type:diff select:commit.diff.added since:yesterday panic",
    "type:commit message:\"fix login\" before:2026-01-31 after:2025-12-01",
    "type:commit committer:alice@acme.com until:\"Jan 2, 2020\"",
    "type:commit author:x fix or bug",
    "fix or bug type:commit author:x",
    "type:symbol select:symbol.struct Config",
    "case:yes fork:only archived:YES visibility:Public count:all timeout:1m30s foo",
    "case:T fork:n archived:0 count:50 foo",
    "patterntype:regexp ^import\\s+os$",
    "patterntype:standard foo bar",
    "context:@alice/my-ctx foo",
    "repohasfile:go\\.mod repohascommitafter:\"2 weeks ago\" foo",
    "index:only foo",
    "lang:\"jupyter notebook\" lang:c++ lang:C# foo",
    "  lang:go  foo  ",
    # real queries the parser used to reject
    "patterntype:regexp fmt\\.Println\\(",  # escaped parens in a regexp term
    "patterntype:regexp \\(\\s*\\) lang:go",
    "file:\\(generated\\) foo",
    "patterntype:regexp (get|set)Value",  # a term that starts with a balanced group
    "lang:java (get|set)Name\\(",
    "lang:go fmt.Println(",  # unclosed "(": re-read with literal parentheses
    "(foo OR bar",
    "foo(",
    "x OR 'y' z( /w/",  # quoted and regex patterns in the literal re-read
    "patterntype:regexp version:\\s*\\d+",  # name:value regexp term in regexp mode
    "log.Printf(msg, args)",  # whitespace inside a balanced pattern
    'lang:go log.Printf("%s: %v", name, err)',
    "foo(a, b) OR bar(c, d)",
    "(log.Printf(msg, args) OR fmt.Println(x))",
]

INVALID = [
    ("lang:python async:yes", "hallucinated_filter"),
    ("language:go is:public foo", "hallucinated_filter"),
    ("-owner:me foo", "hallucinated_filter"),
    ('repo:sourcegraph type:commit author:erik after:\\"1 week ago\\"', "escape_artifact"),
    ("file:\\\\.go$ foo", "escape_artifact"),
    ("content:\\'x\\'", "escape_artifact"),
    ("", "empty"),
    ("   ", "empty"),
    ("lang:go foo\nexplanation: searches go", "multiline"),
    ("foo) bar", "unbalanced"),
    ("(a OR b)) c", "unbalanced"),
    ("patterntype:regexp async:yes", "hallucinated_filter"),  # regexp mode, but no regex in it
    ("foo(repo:x y)", "syntax"),  # a filter inside the parens: not one pattern
    ('"unterminated', "unterminated_quote"),
    ("repo:'x", "unterminated_quote"),
    ('file:"\\.go$"', "bad_escape"),
    ("foo or", "dangling_operator"),
    ("and foo", "dangling_operator"),
    ("NOT (a b)", "bad_not"),
    ("NOT -file:x foo", "double_negation"),
    ('"a"b', "syntax"),
    ("repo:foo(a b) x", "unknown_predicate"),
    ("repo: foo", "empty_value"),
    ('file:"" foo', "empty_value"),
    ('"  "', "empty_value"),
    ("-type:file foo", "not_negatable"),
    ("NOT case:yes foo", "not_negatable"),
    ("-file:has.content(x) foo", "not_negatable"),
    ("type:function foo", "bad_value"),
    ("case:maybe foo", "bad_value"),
    ("fork:always foo", "bad_value"),
    ("visibility:internal foo", "bad_value"),
    ("select:commits foo", "bad_value"),
    ("patterntype:REGEXP foo", "bad_value"),
    ("context:@@x foo", "bad_value"),
    ("lang:klingon foo", "unknown_language"),
    ("lang:pythn foo", "unknown_language"),
    ("type:commit after:last-week", "bad_date"),
    ("type:commit before:2024-02-30", "bad_date"),
    ("type:commit after:1 week ago", "unquoted_date"),
    ("type:commit since:last monday", "unquoted_date"),
    ("file:*.go", "bad_regex"),
    ("repo:foo(bar", "unbalanced"),
    ("type:commit author:(?=x)", "bad_regex"),
    ("/a++/", "bad_regex"),
    ("patterntype:regexp foo[", "bad_regex"),
    ("count:0 foo", "bad_count"),
    ("count:many foo", "bad_count"),
    ("timeout:1d foo", "bad_timeout"),
    ("repo:x rev:a..b~1 foo", "bad_rev"),
    ("repo:x@bad~rev foo", "bad_rev"),
    ("repo:has.file(pth:x)", "bad_predicate"),
    ("repo:has.path()", "bad_predicate"),
    ("case:yes case:no foo", "duplicate_field"),
    ("repo:x case:yes (A or (case:no B))", "duplicate_field"),
    ("count:10 count:all foo", "duplicate_field"),
    ("author:erik fix", "needs_commit_type"),
    ("after:\"1 week ago\" foo", "needs_commit_type"),
    ("type:symbol message:fix", "needs_commit_type"),
    ("(type:commit fix) or author:x", "needs_commit_type"),
    ("type:commit select:commit.diff.added foo", "needs_diff_type"),
    ("rev:main foo", "rev_without_repo"),
    ("-repo:x rev:main foo", "rev_without_repo"),
    ("repo:x@a rev:b foo", "rev_conflict"),
    ("repo:has.path(go\\.mod) rev:main", "rev_conflict"),
    ("type:symbol repohasfile:go\\.mod foo", "bad_combination"),
    ("patterntype:structural type:file foo(...)", "bad_combination"),
]


@pytest.mark.parametrize("query", VALID)
def test_valid_queries_pass(query):
    assert problems_of(query) == []
    check(query)


@pytest.mark.parametrize("query,reason", INVALID)
def test_invalid_queries_fail_with_reason(query, reason):
    with pytest.raises(ParseError) as caught:
        check(query)
    assert caught.value.reason == reason, str(caught.value)
    assert caught.value.reason in REASONS
    assert 0 <= caught.value.position <= len(query)


def test_tables_are_large_enough():
    assert len(VALID) >= 40 and len(INVALID) >= 40


def test_hallucinated_filter_error_points_at_the_token_and_says_what_to_do():
    with pytest.raises(ParseError) as caught:
        check("lang:python async:yes")
    assert caught.value.position == len("lang:python ")
    assert "'async' is not a Sourcegraph filter" in str(caught.value)


def test_escape_artifact_outranks_the_date_error_it_causes():
    problems = problems_of('type:commit author:erik after:\\"1 week ago\\"')
    assert problems[0].reason == "escape_artifact"
    assert "bad_date" in {p.reason for p in problems}


def test_unquoted_date_error_suggests_the_quoted_form():
    with pytest.raises(ParseError, match='after:"1 week ago"'):
        check("type:commit after:1 week ago")


def test_hoisting_scopes_trailing_filters_over_the_or():
    query = check("author:x fix or bug type:commit")
    assert query.hoisted
    assert all({p.field for p in branch} == {"author", "type"} for branch in query.basic_queries())


def test_params_distribute_over_or_into_basic_queries():
    query = check("repo:a (file:b or file:c)")
    assert sorted(tuple(p.value for p in branch) for branch in query.basic_queries()) == [("a", "b"), ("a", "c")]


def test_unknown_name_value_is_text_when_the_request_asks_for_it():
    request = "where do we use nolint:errcheck"
    assert problems_of("lang:go nolint:errcheck", request) == []
    assert [p.reason for p in problems_of("lang:go nolint:errcheck")] == ["hallucinated_filter"]
    query = check("lang:go nolint:errcheck", request)
    assert [(p.value, p.field_name) for p in query.patterns()] == [("nolint:errcheck", "nolint")]
    with pytest.raises(ParseError, match="'async' is not a Sourcegraph filter"):
        check("lang:python async:yes", "find Python files with async functions")


def test_balanced_and_literal_paren_patterns_keep_their_text():
    assert [p.value for p in check("lang:go log.Printf(msg, args) err").patterns()] == ["log.Printf(msg, args)", "err"]
    assert [p.value for p in check("(foo OR bar").patterns()] == ["(foo", "bar"]
    assert [p.value for p in check("patterntype:regexp (get|set)Value").patterns()] == ["(get|set)Value"]
    assert [p.value for p in check("(a or b) c").patterns()] == ["a", "b", "c"]  # still a group


def test_parsing_stays_fast():
    import time

    from querytune.experiments.sourcegraph.grammar import parse_query

    queries = [q for q in VALID if q.strip()] * 5
    began = time.perf_counter()
    for query in queries:
        parse_query(query)
    assert (time.perf_counter() - began) / len(queries) < 0.005  # ~0.1 ms each on one core


# ---------------------------------------------------------------- the hand-written dev set

def constructs(row: dict) -> list[str]:
    """The constructs a dev row's gold exercises, read off its parse (dev.jsonl stores them)."""
    import re

    from querytune.experiments.sourcegraph.grammar import parse_query
    from querytune.experiments.sourcegraph.nodes import Op, walk

    query = parse_query(row["query"])
    params, patterns, mode = query.params(), query.patterns(), query.pattern_type()

    def has(field, negated=None, predicate=None):
        return any(p.field == field and negated in (None, p.negated) and predicate in (None, bool(p.predicate))
                   for p in params)

    plain_repos = [p for p in params if p.field == "repo" and not p.predicate]
    types = {p.value.lower() for p in params if p.field == "type"}
    boolean = (any(isinstance(n, Op) and n.kind in ("and", "or") for n in walk(query.root))
               or any(p.negated for p in patterns))
    found = {
        "keyword": any(p.kind == "word" for p in patterns) and mode != "regexp",
        "phrase": any(p.kind == "quoted" for p in patterns),
        "regex": any(p.kind == "regex" for p in patterns),
        "patterntype:regexp": mode == "regexp",
        "repo": any(not p.negated and p.value for p in plain_repos),
        "-repo": any(p.negated for p in plain_repos),
        "repo@rev/rev": any(p.rev is not None for p in plain_repos) or has("rev", predicate=False),
        "rev:at.time": any(p.field == "rev" and p.predicate == "at.time" for p in params),
        "file": has("file", False, False), "-file": has("file", True, False),
        "lang": has("lang", False), "-lang": has("lang", True), "content": has("content"),
        "type:commit/diff": bool(types & {"commit", "diff"}),
        "type:repo/path/file/symbol": bool(types & {"repo", "path", "file", "symbol"}),
        "select": has("select"),
        "repo predicate": has("repo", predicate=True) or has("repohasfile"),
        "file predicate": has("file", predicate=True),
        "boolean": boolean,
        "case:": has("case"), "count:": has("count"), "timeout:": has("timeout"), "context:": has("context"),
        "fork/archived/visibility": has("fork") or has("archived") or has("visibility"),
    }
    candidates = [c if "." in c.split("/", 1)[0] else f"github.com/{c}" for c in row["candidate_repos"]]
    if candidates:
        used = sum(any(re.search(p.value, c, re.I) for p in plain_repos if not p.negated and p.value)
                   for c in candidates)
        found[("candidates: none used", "candidates: one used")[min(used, 1)] if used < 2
              else "candidates: several used"] = True
    pattern_count = len(patterns) + sum(p.field == "content" for p in params)
    filter_count = sum(p.field != "content" for p in params)
    found["short"] = pattern_count >= 1 and 1 <= filter_count <= 3 and not boolean
    return sorted(name for name, present in found.items() if present)


CONSTRUCTS = ["keyword", "phrase", "regex", "patterntype:regexp", "repo", "-repo", "repo@rev/rev", "rev:at.time",
              "file", "-file", "lang", "-lang", "content", "type:commit/diff", "type:repo/path/file/symbol",
              "select", "repo predicate", "file predicate", "boolean", "case:", "count:", "timeout:", "context:",
              "fork/archived/visibility", "candidates: none used", "candidates: one used",
              "candidates: several used", "short"]


@pytest.fixture(scope="module")
def dev_rows() -> list[dict]:
    from querytune.experiments import get_task

    return get_task("sourcegraph").dev()


def test_dev_set_golds_parse_and_validate_against_their_requests(dev_rows):
    assert len(dev_rows) >= 300
    assert [(r["query"], problems_of(r["query"], r["request"])[0].reason) for r in dev_rows
            if problems_of(r["query"], r["request"])] == []
    assert all(set(r) == {"request", "query", "candidate_repos", "date", "intent", "template", "constructs"}
               for r in dev_rows)
    assert len({(r["request"], r["query"]) for r in dev_rows}) == len(dev_rows)


def test_dev_set_is_stratified_by_construct(dev_rows):
    assert all(r["constructs"] == constructs(r) for r in dev_rows)
    counts = {name: sum(name in r["constructs"] for r in dev_rows) for name in CONSTRUCTS}
    assert {name: n for name, n in counts.items() if n < 10} == {}
    assert counts["short"] > len(dev_rows) / 2  # most real queries: a pattern and a few filters


def test_dev_requests_are_plain_language(dev_rows):
    import re

    syntax = re.compile(r"`|\b(?:repo|file|lang|type|select|patterntype|rev):\S")
    assert [r["request"] for r in dev_rows if syntax.search(r["request"])] == []


def test_dev_golds_score_themselves_perfectly_and_flag_nothing(dev_rows):
    import math

    from querytune.experiments.sourcegraph.metrics import score

    for row in dev_rows:
        metrics = score(row, row["query"])
        assert metrics["score"] == metrics["filter_f1"] == metrics["pattern_match"] == 1.0, row["query"]
        assert metrics["hallucinated_filter"] == metrics["unnecessary_repo"] == metrics["escape_artifact"] == 0.0
        uses_candidate = any(c.startswith("candidates: one") or c.startswith("candidates: several")
                             for c in row["constructs"])
        assert (metrics["candidate_repo_used"] == 1.0) if uses_candidate else math.isnan(metrics["candidate_repo_used"])
