r"""Strict validation of a parsed query: stricter than Sourcegraph's own server.

Sourcegraph silently turns an unknown ``name:value`` into search text and ignores
some odd values; a model that writes them has still made a mistake, so here they are
errors. An unknown ``name:value`` is an invented filter only when the request does not
ask for that text: given the request, ``nolint:errcheck`` for "where do we use
nolint:errcheck" is fine, and so is a regexp-mode term such as ``version:\s*\d+``.
Without a request every such token is an error (the strict reading). Every problem is a
:class:`ParseError` with a ``position`` and a stable ``reason`` code (see ``REASONS``) that
metrics and reports group by.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Callable

from querytune.experiments.base import ParseError
from querytune.experiments.sourcegraph import values as v
from querytune.experiments.sourcegraph.artifacts import escape_artifacts
from querytune.experiments.sourcegraph.grammar import parse_query
from querytune.experiments.sourcegraph.languages import canonical_language
from querytune.experiments.sourcegraph.nodes import Param, Pattern, Query

#: reason code -> what it means; parse errors from grammar.py use the first group
REASONS = {
    "empty": "nothing but whitespace",
    "multiline": "more than one line",
    "syntax": "tokens that do not form a query",
    "unbalanced": "parentheses that do not pair up",
    "unterminated_quote": "a quote that is never closed",
    "bad_escape": "an escape inside quotes other than \\\" \\' \\\\ \\n \\t ...",
    "dangling_operator": "AND/OR/NOT with nothing on one side",
    "bad_not": "NOT before a parenthesised group",
    "double_negation": "NOT before a -negated filter",
    "unknown_predicate": "name(args with spaces) that is not a predicate of the field",
    "too_complex": "too many OR branches over filters",
    "escape_artifact": "JSON-style escaped quotes or doubled backslashes outside quotes",
    "hallucinated_filter": "name:value where name is not a Sourcegraph field (and the request does not ask for it)",
    "empty_value": "a filter or quoted pattern with nothing in it",
    "not_negatable": "a negated filter that cannot be negated",
    "bad_value": "a value outside the field's allowed set",
    "unknown_language": "lang: value that is no known language or alias",
    "bad_date": "before:/after: value that is no date",
    "unquoted_date": "a multi-word date without quotes",
    "bad_regex": "a regex RE2 would reject",
    "bad_count": "count: that is no positive number or all",
    "bad_timeout": "timeout: that is no Go duration",
    "bad_rev": "a malformed revision",
    "bad_predicate": "predicate arguments that break its rules",
    "duplicate_field": "a once-only field used twice in one basic query",
    "needs_commit_type": "author/committer/message/before/after without type:commit or type:diff",
    "needs_diff_type": "select:commit.diff.* without type:diff",
    "rev_without_repo": "rev: with no repo: to apply to",
    "rev_conflict": "both repo:x@rev and rev:, or rev: with repo predicates",
    "bad_combination": "fields that cannot be used together",
}

ONCE_ONLY = frozenset({"case", "fork", "archived", "visibility", "select", "count", "timeout",
                       "patterntype", "rev", "context", "repohascommitafter", "index", "rule"})
NEGATABLE = frozenset({"repo", "file", "content", "lang", "author", "committer", "message",
                       "repohasfile"})
COMMIT_FIELDS = frozenset({"author", "committer", "message", "before", "after"})
REGEX_FIELDS = frozenset({"repo", "file", "author", "committer", "message", "repohasfile"})
DATE_FIELDS = frozenset({"before", "after", "repohascommitafter"})
UNNEGATABLE_PREDICATES = frozenset({("repo", "has.description"), ("file", "has.content"),
                                    ("file", "contains.content")})
_FIRST_REASONS = ("escape_artifact", "hallucinated_filter")
_REGEX_SYNTAX = re.compile(r"[\\\[\]()*+?{}|^$]")


def check(text: str, request: str | None = None) -> Query:
    """Parse and validate ``text``; raise the most telling problem, or return the query.

    ``request`` is the natural-language request the query answers, if known: a
    ``name:value`` token that it mentions is search text, not an invented filter.

    >>> check("lang:python async:yes")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    querytune.experiments.base.ParseError: async:yes: 'async' is not a Sourcegraph filter; search the word itself
    ("async") or use a real filter such as lang:, file:, repo:, type:
    """
    problems = problems_of(text, request)
    if problems:
        raise problems[0]
    return parse_query(text)


def problems_of(text: str, request: str | None = None) -> list[ParseError]:
    """All problems found, the most telling first (escape artifacts, invented filters, by position)."""
    found = [ParseError(f"{a.text!r} holds an escaped quote or doubled backslash, an escaping "
                        "artifact: write plain quotes (after:\"1 week ago\") and single backslashes",
                        position=a.position, reason="escape_artifact") for a in escape_artifacts(text)]
    try:
        found += validate(parse_query(text), request)
    except ParseError as error:
        found.append(error)
    rank = {reason: i for i, reason in enumerate(_FIRST_REASONS)}
    return sorted(found, key=lambda e: (rank.get(e.reason, len(rank)), e.position or 0))


def validate(query: Query, request: str | None = None) -> list[ParseError]:
    """Field, pattern and per-basic-query rules for a parsed query (empty list = valid)."""
    found = [problem for param in query.params() for problem in _check_param(param, query)]
    found += _check_patterns(query, request)
    for basic in query.basic_queries():
        found += _check_basic(basic, query)
    unique = {(p.reason, p.position, str(p)): p for p in found}
    return list(unique.values())


# ---------------------------------------------------------------- one parameter


def _check_param(param: Param, query: Query) -> list[ParseError]:
    def error(reason: str, rule: str) -> ParseError:
        return ParseError(f"{param.raw}: {rule}", position=param.position, reason=reason)

    found = []
    if param.negated and (param.field not in NEGATABLE or (param.field, param.predicate) in UNNEGATABLE_PREDICATES):
        found.append(error("not_negatable", f"{param.field}:{param.predicate or ''} cannot be "
                           "negated; drop the - or NOT"))
    if not param.value and param.predicate is None and not (param.field == "repo" and param.rev):
        return found + [error("empty_value", f"{param.field}: needs a value (quote it if it has spaces)")]
    checker = _CHECKERS.get(param.field)
    problem = checker(param, query) if checker else None
    if problem:
        found.append(error(*problem))
    return found


def _regex_field(param: Param, query: Query) -> tuple[str, str] | None:
    if param.predicate:
        return _check_predicate(param)
    if param.rev and (problem := v.check_revisions(param.rev)):
        return "bad_rev", problem
    if param.value and (problem := v.check_regex(param.value)):
        return "bad_regex", f"invalid regex {param.value!r}: {problem} (escape specials with \\)"
    return None


def _check_predicate(param: Param) -> tuple[str, str] | None:
    name, args = param.predicate.replace("contains", "has", 1), (param.args or "").strip()
    if name == "at.time":
        date_text, _, rev = args.partition(",")
        if v.resolve_date(date_text.strip().strip("\"'")) is None:
            return "bad_date", f"at.time needs a date first, got {date_text.strip()!r}"
        problem = v.check_revisions(rev.strip()) if rev.strip() else None
        return ("bad_rev", problem) if problem else None
    if not args and name != "has.owner":
        return "bad_predicate", f"{param.predicate}() needs an argument"
    if name in ("has.file", "has") and ":" in args:
        return _check_has_file(args)
    if name in ("has.path", "has.content", "has.description", "has.file", "has.contributor"):
        problem = v.check_regex(args)
        return ("bad_regex", f"{param.predicate}({args}): {problem}") if problem else None
    return None


def _check_has_file(args: str) -> tuple[str, str] | None:
    for part in args.split():
        key, _, value = part.partition(":")
        if key not in ("path", "content") or not value:
            return "bad_predicate", f"has.file takes path:RE and/or content:RE, got {part!r}"
        if problem := v.check_regex(value.strip("\"'")):
            return "bad_regex", f"has.file {part!r}: {problem}"
    return None


def _lang(param: Param, query: Query) -> tuple[str, str] | None:
    if canonical_language(param.value) is None:
        return "unknown_language", (f"unknown language {param.value!r}: use a linguist name or alias "
                                    "such as python, go, typescript, c++, shell")
    return None


def _date(param: Param, query: Query) -> tuple[str, str] | None:
    if param.predicate is None and v.resolve_date(param.value) is not None:
        return None
    end = param.position + len(param.raw)
    following = query.text[end:].split()[:3]
    for count in range(1, len(following) + 1):
        if v.resolve_date(" ".join([param.value, *following[:count]])) is not None:
            words = " ".join([param.value, *following[:count]])
            return "unquoted_date", f"a date with spaces must be quoted: {param.field}:\"{words}\""
    return "bad_date", ("expected a date like 2026-01-31, \"1 week ago\", \"last monday\" or "
                        "yesterday (quote dates that have spaces)")


def _choice(allowed, reason: str = "bad_value", lower: bool = True):
    def check(param: Param, query: Query) -> tuple[str, str] | None:
        value = param.value.lower() if lower else param.value
        if value not in allowed:
            return reason, f"{param.value!r} is not one of {', '.join(sorted(set(allowed)))}"
        return None
    return check


def _plain(reason: str, checker: Callable[[str], str | None]):
    def check(param: Param, query: Query) -> tuple[str, str] | None:
        problem = checker(param.value)
        return (reason, problem) if problem else None
    return check


def _rev(param: Param, query: Query) -> tuple[str, str] | None:
    return _check_predicate(param) if param.predicate else _plain("bad_rev", v.check_revisions)(param, query)


_CHECKERS: dict[str, Callable[[Param, Query], tuple[str, str] | None]] = {
    **{field: _regex_field for field in REGEX_FIELDS},
    **{field: _date for field in DATE_FIELDS},
    "lang": _lang,
    **{field: _choice(values, lower=lower) for field, (values, lower) in v.CHOICE_FIELDS.items()},
    "count": _plain("bad_count", v.check_count),
    "timeout": _plain("bad_timeout", v.check_duration),
    "context": _plain("bad_value", v.check_context),
    "rev": _rev,
}


# ---------------------------------------------------------------- patterns and basic queries


def invented_filter(pattern: Pattern, mode: str, request: str | None) -> bool:
    """Whether a ``name:value`` word with no such field is a made-up filter, not wanted text.

    It is wanted when the request mentions ``name:`` (``nolint:errcheck``), or in regexp
    mode when its value is written as a regex (``version:\\s*\\d+``).

    >>> word = Pattern("nolint:errcheck", field_name="nolint")
    >>> invented_filter(word, "keyword", "where do we use nolint:errcheck"), invented_filter(word, "keyword", None)
    (False, True)
    """
    if pattern.field_name is None:
        return False
    if request is not None and f"{pattern.field_name}:" in request.lower():
        return False
    value = pattern.value.split(":", 1)[1]
    return not (mode == "regexp" and _REGEX_SYNTAX.search(value))


def _check_patterns(query: Query, request: str | None = None) -> list[ParseError]:
    mode, found = query.pattern_type(), []
    for pattern in query.patterns():
        if invented_filter(pattern, mode, request):
            name = pattern.field_name
            found.append(ParseError(f"{pattern.raw}: {name!r} is not a Sourcegraph filter; search the "
                                    f"word itself (\"{name}\") or use a real filter such as lang:, "
                                    "file:, repo:, type:", position=pattern.position,
                                    reason="hallucinated_filter"))
            continue
        if pattern.kind == "quoted" and not pattern.value.strip():
            found.append(ParseError(f"{pattern.raw}: empty quoted pattern", position=pattern.position,
                                    reason="empty_value"))
        if pattern.kind == "regex" or (pattern.kind == "word" and mode == "regexp"):
            if problem := v.check_regex(pattern.value):
                found.append(ParseError(f"{pattern.raw}: invalid regex: {problem}",
                                        position=pattern.position, reason="bad_regex"))
        if pattern.negated and mode == "structural":
            found.append(ParseError(f"NOT {pattern.raw}: structural search cannot negate patterns",
                                    position=pattern.position, reason="bad_combination"))
    return found


def _check_basic(params: tuple[Param, ...], query: Query) -> list[ParseError]:
    """Rules that look at one expanded basic query (params distributed over OR)."""
    def error(param: Param, reason: str, rule: str) -> ParseError:
        return ParseError(f"{param.raw}: {rule}", position=param.position, reason=reason)

    found, seen = [], Counter()
    for param in params:
        seen[param.field] += 1
        if param.field in ONCE_ONLY and seen[param.field] == 2:
            found.append(error(param, "duplicate_field", f"{param.field}: may be used only once"))
    types = {p.value.lower() for p in params if p.field == "type"}
    repos = [p for p in params if p.field == "repo" and not p.negated]
    for param in params:
        if param.field in COMMIT_FIELDS and not types & {"commit", "diff"}:
            found.append(error(param, "needs_commit_type", f"{param.field}: only works with "
                               "type:commit or type:diff; add one of them"))
        if param.field == "select" and param.value.lower().startswith("commit.diff") and "diff" not in types:
            found.append(error(param, "needs_diff_type", "select:commit.diff.* needs type:diff"))
        if param.field == "rev":
            found += _check_rev_scope(param, repos, error)
        if param.field == "repohasfile" and "symbol" in types:
            found.append(error(param, "bad_combination", "repohasfile: cannot be used with type:symbol"))
    if query.pattern_type() == "structural" and types:
        found.append(ParseError("structural search cannot be combined with type:", position=0,
                                reason="bad_combination"))
    return found


def _check_rev_scope(param: Param, repos: list[Param], error) -> list[ParseError]:
    if not any(r.value or r.predicate for r in repos):
        return [error(param, "rev_without_repo", "rev: needs a repo: filter to pick repositories")]
    if any(r.rev is not None for r in repos):
        return [error(param, "rev_conflict", "use either repo:x@rev or rev:, not both")]
    if any(r.predicate for r in repos):
        return [error(param, "rev_conflict", "rev: cannot be combined with repo: predicates")]
    return []
