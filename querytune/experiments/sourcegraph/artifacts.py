"""Token-level checks that work on any text, parseable or not.

Metrics need to know whether a completion invented a filter or carries escaping
artifacts even when it fails to parse for another reason, so these scans read raw
tokens (quote-aware) instead of the parse tree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from querytune.experiments.sourcegraph.grammar import FIELD_ALIASES, FIELDS

# a quoted token (optionally field-prefixed), a predicate without nested parens, or a bare run
_TOKEN = re.compile(r"""(?P<quoted>(?:-?[A-Za-z]+:)?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))"""
                    r"""|-?[A-Za-z]+:[A-Za-z.]+\([^()\n]*\)|\S+""")
_FIELD_SHAPE = re.compile(r"\(*-?([A-Za-z]+):(?![:/])")
_REGEXP_MODE = re.compile(r"(?i)(?:^|\s)patterntype:regexp?(?:\s|$)")
_REGEX_SYNTAX = re.compile(r"[\\\[\]()*+?{}|^$]")
# JSON-style escapes left in unquoted text: \" \' and doubled backslashes before . " '
_ARTIFACT = re.compile(r"""\\["']|\\\\[."']""")


@dataclass(frozen=True)
class Finding:
    position: int
    text: str


def tokens(text: str) -> list[re.Match]:
    return list(_TOKEN.finditer(text))


def hallucinated_fields(text: str, request: str | None = None) -> list[Finding]:
    """Tokens shaped like ``name:value`` whose name is not a Sourcegraph field, and that the
    request does not ask for (it does not mention ``name:``); in regexp mode a value written
    as a regex (``version:\\s*\\d+``) is search text too. Same rule as validate.invented_filter.

    >>> [f.text for f in hallucinated_fields('lang:python async:yes "in:quotes" http://x')]
    ['async:yes']
    >>> hallucinated_fields("lang:go nolint:errcheck", request="where do we use nolint:errcheck")
    []
    """
    found, asked = [], (request or "").lower()
    regexp_mode = _REGEXP_MODE.search(text) is not None
    for token in tokens(text):
        if token.group("quoted") and token.group().startswith(("'", '"')):
            continue
        shape = _FIELD_SHAPE.match(token.group())
        if not shape or shape.group(1).lower() in FIELDS or shape.group(1).lower() in FIELD_ALIASES:
            continue
        if request is not None and f"{shape.group(1).lower()}:" in asked:
            continue
        if regexp_mode and _REGEX_SYNTAX.search(token.group()[shape.end():]):
            continue
        found.append(Finding(token.start(), token.group()))
    return found


def escape_artifacts(text: str) -> list[Finding]:
    r"""Backslash-escaped quotes (or doubled backslashes) outside quoted strings.

    >>> [f.text for f in escape_artifacts(r'after:\"1 week ago\" file:\\.go$ "ok \" here"')]
    ['after:\\"1', 'ago\\"', 'file:\\\\.go$']
    """
    return [Finding(token.start(), token.group()) for token in tokens(text)
            if not token.group("quoted") and _ARTIFACT.search(token.group())]


def repo_filter_tokens(text: str) -> list[str]:
    """Values of ``repo:``/``r:`` tokens, for completions that do not parse."""
    values = []
    for token in tokens(text):
        shape = _FIELD_SHAPE.match(token.group())
        if shape and shape.group(1).lower() in ("repo", "r") and not token.group().lstrip("(").startswith("-"):
            values.append(token.group()[shape.end():].strip("\"')"))
    return values
