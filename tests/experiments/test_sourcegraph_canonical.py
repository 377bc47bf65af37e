"""Canonical form: which rewrites keep a search's meaning (equal) and which change it."""
from __future__ import annotations

from datetime import date

import pytest

from querytune.experiments.sourcegraph.canonical import canonicalize, semantic_match

TODAY = date(2026, 11, 25)  # a Wednesday

EQUIVALENT = [
    ("l:Python def async", "lang:python async def"),  # alias, value case, keyword-mode term order
    ("language:golang foo", "lang:go foo"),
    ("lang:ts foo", "lang:TypeScript foo"),
    ("lang:cpp x", "lang:c++ x"),
    ("r:foo f:bar x", "repo:foo file:bar x"),
    ("path:src/ x", "file:src/ x"),
    ("NOT file:test x", "-file:test x"),
    ("x repo:a lang:go", "lang:go repo:a x"),  # parameter order
    ("repo:a repo:a x", "repo:a x"),  # duplicate parameter
    ('repo:"foo" x', "repo:foo x"),  # redundant quotes
    ('"foo" bar', "foo bar"),  # quoting a single keyword term
    ("/foo/ bar", "foo bar"),  # a regex that is a plain word
    ("case:no fork:no archived:no visibility:any x", "x"),  # defaults
    ("patterntype:keyword context:global index:yes x", "x"),
    ("case:Y x", "case:yes x"),
    ("fork:TRUE x", "fork:yes x"),
    ("archived:o x", "archived:only x"),
    ("count:all x", "count:99999999 x"),
    ("count:007 x", "count:7 x"),
    ("timeout:1m x", "timeout:60s x"),
    ("repo:x@main foo", "repo:x rev:main foo"),
    ("revision:main repo:x foo", "repo:x rev:main foo"),
    ("repo:contains.file(path:go\\.mod)", "repo:has.path(go\\.mod)"),
    ("repohasfile:go\\.mod", "repo:has.path(go\\.mod)"),
    ("repo:has.file(content:b path:a)", "repo:has.file(path:a content:b)"),
    ("select:file.path x", "select:file x"),
    ("patterntype:regex a.*b", "patterntype:regexp a.*b"),
    ("repo:^github\\.com/kubernetes/kubernetes$ x", "repo:kubernetes/kubernetes x"),
    ("repo:github.com/Org/App x", "repo:org/app x"),
    ("a AND b", "a b"),
    ("a OR b", "b or a"),
    ("(a)", "a"),
    ("repo:foo a or b file:x", "repo:foo file:x (a or b)"),  # hoisting
    ('content:"a b"', '"a b"'),
    ('type:commit after:"1 week ago"', "type:commit after:2026-11-18"),  # relative dates resolve
    ("type:commit since:yesterday", "type:commit after:2026-11-24"),
    ('type:commit after:"last week"', 'type:commit after:"7 days ago"'),
    ('type:commit after:"last monday"', "type:commit after:2026-11-23"),
    ('type:commit until:"Jan 2, 2020"', "type:commit before:2020-01-02"),
    ("type:commit m:fix", "type:commit message:fix"),
    ("type:commit (author:a OR author:b) fix", "type:commit fix (author:b or author:a)"),
    # scorer 2
    ("file:setup.py x", "file:setup\\.py$ x"),  # file: values: escaped dots, trailing $
    ("file:\\.go$ x", "file:.go x"),
    ("-file:_test\\.go$ x", "-file:_test.go x"),
    ("/foo.*bar/", "patterntype:regexp foo.*bar"),  # one regex, two spellings
    ("lang:go /err(or)?s/ NOT /todo\\d/", "patterntype:regexp lang:go err(or)?s NOT todo\\d"),
    ("/a/ OR /b.c/", "patterntype:regexp a OR b.c"),
    ("patterntype:regexp foo", "foo"),  # regexp mode on one plain word
    ("patterntype:regexp lang:go Foo_Bar", "lang:go foo_bar"),
    ("NewClient", "newclient"),  # pattern case without case:yes
    ('"Not Found"', '"not found"'),
    ("file:README x", "file:readme x"),
    ("/HTTP\\d/", "/http\\d/"),
    ('content:"Hello"', "hello"),
    ('type:commit after:"1 week ago"', 'type:commit after:"7 days ago"'),  # relative-date multiples
    ('type:commit after:"2 weeks ago"', 'type:commit after:"14 days ago"'),
    ('type:commit after:"48 hours ago"', 'type:commit after:"2 days ago"'),
    ('type:commit after:"12 months ago"', 'type:commit after:"1 year ago"'),
    ("foo repo:x@main", "repo:x rev:main foo"),  # repo@rev wherever it sits
    ("patterntype:regexp a b repo:x@v1", "patterntype:regexp repo:x rev:v1 a b"),
    ("(repo:x@main foo) or bar", "bar or (foo repo:x rev:main)"),
    ("lang:go foo AND file:x bar", "lang:go file:x foo AND bar"),  # params across AND: one set
    ("patterntype:regexp lang:go a b AND file:x c d", "patterntype:regexp lang:go file:x a b AND c d"),
    ('"nolint:errcheck"', "nolint:errcheck"),  # not a field: plain text either way
]

DIFFERENT = [
    ('"a b"', "a b"),  # phrase vs two terms
    ("/a.b/", "a.b"),  # regex vs literal
    ("patterntype:standard a b", "patterntype:standard b a"),  # term order outside keyword mode
    ("patterntype:regexp a b", "a b"),  # pattern type
    ("type:file x", "x"),  # no type means files, paths and repos
    ("case:yes x", "x"),
    ("lang:go x", "-lang:go x"),  # negation
    ("fork:yes x", "fork:only x"),
    ("select:repo x", "x"),
    ("count:10 x", "x"),
    ("repo:sourcegraph x", "repo:sourcegraph/sourcegraph x"),
    ("file:\\.go$ x", "file:go x"),
    ('type:commit after:"1 week ago"', 'type:commit after:"2 weeks ago"'),
    ("type:commit after:2026-01-01", "type:commit before:2026-01-01"),
    ("repo:x@main foo", "repo:x@dev foo"),
    ("a or b", "a b"),
    ("(a or b) c", "a or (b c)"),
    ("(repo:a x) or y", "repo:a (x or y)"),  # explicit grouping is not hoisted
    ("foo NOT bar", "foo bar"),
    # scorer 2: what still changes results
    ("file:^src/ x", "file:src/ x"),  # a leading anchor narrows the paths
    ("file:\\.go$ x", "file:\\.golden x"),
    ("repo:^acme/web x", "repo:acme/web x"),  # matches nothing where names start with a host
    ("patterntype:regexp a.*b c", "/a.*b/ c"),  # juxtaposed regexes: a.*b.*?c
    ("patterntype:regexp foo.bar", "foo.bar"),  # a regex is not the literal text
    ("case:yes NewClient", "case:yes newclient"),
    ("case:yes file:README x", "case:yes file:readme x"),
    ("/\\D+/", "/\\d+/"),  # case folding keeps escapes
    ('type:commit after:"1 week ago"', 'type:commit after:"8 days ago"'),
    ("repo:x@main foo", "repo:x foo"),
    ("repo:x@main (foo or bar)", "(repo:x@main foo) or bar"),  # a param inside one OR branch
    ("patterntype:regexp a AND b", "patterntype:regexp a b"),  # AND vs fuzzy join in regexp mode
    ("lang:go foo or file:x bar", "lang:go file:x (foo or bar)"),  # params across OR are not pooled
    ('"lang:go"', "lang:go"),  # quoting a real filter makes it text
    ("(get|set)Value", "patterntype:regexp (get|set)Value"),  # keyword mode: group, then a term
]


@pytest.mark.parametrize("a,b", EQUIVALENT)
def test_equivalent_queries_have_one_canonical_form(a, b):
    assert canonicalize(a, TODAY).text == canonicalize(b, TODAY).text


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_meaning_changes_keep_canonical_forms_apart(a, b):
    assert not semantic_match(a, b, TODAY)


def test_canonical_text_is_itself_a_fixed_point():
    for a, _ in EQUIVALENT:
        once = canonicalize(a, TODAY).text
        assert canonicalize(once, TODAY).text == once


def test_relative_dates_stay_symbolic_without_a_request_date():
    assert canonicalize('type:commit since:"last week"').text == 'type:commit after:"1 week ago"'


def test_filters_and_patterns_are_split_for_partial_credit():
    form = canonicalize("L:Go -file:test fmt.Errorf", TODAY)
    assert form.filters == {("lang", "go", False), ("file", "test", True)}
    assert form.patterns == "fmt.errorf"  # case folded: no case:yes


SG = ("github.com/acme/web", "github.com/acme/web-app", "github.com/acme/infra")


def test_repo_values_that_pick_different_candidates_differ():
    def same(a, b, candidates=SG):
        return semantic_match(a, b, TODAY, candidates)

    assert same("repo:^github\\.com/acme/infra$ x", "repo:acme/infra x")  # one candidate either way
    assert same("repo:^github\\.com/acme/web$ x", "repo:acme/web$ x")
    assert not same("repo:^github\\.com/acme/web$ x", "repo:acme/web x")  # web-app too
    assert same("repo:^github\\.com/acme/web$ x", "repo:acme/web x", candidates=())  # no candidates: practically equal
    assert not same("repo:^acme/web$ x", "repo:^github\\.com/acme/web$ x")  # no host: matches nothing here
    assert not same("repo:^acme/web x", "repo:acme/web x", candidates=())
    assert canonicalize("repo:acme/infra x", TODAY, SG).text == "repo:acme/infra{github.com/acme/infra} x"


def test_keyword_mode_splits_a_leading_group_but_not_after_not():
    assert canonicalize("(get|set)Value").text == "get|set value"
    assert canonicalize("foo NOT (get|set)Value").text == "NOT (get|set)value foo"


def test_canonical_text_of_every_dev_gold_is_a_fixed_point():
    from querytune.experiments import get_task

    for row in get_task("sourcegraph").dev():
        once = canonicalize(row["query"], TODAY).text
        assert canonicalize(once, TODAY).text == once, row["query"]
