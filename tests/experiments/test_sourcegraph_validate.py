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
