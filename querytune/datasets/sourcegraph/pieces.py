"""What a request is composed of: the row context, the draft, and the small helpers every piece uses.

A :class:`Draft` collects what the request says (``what`` for the head, and scope, time
and option fragments) and the gold query parts that those words imply. Content builders
(``content.py``) fill ``what`` and the pattern; modifiers (``scope.py``, ``options.py``) add
one filter and one fragment each. Every phrasing list goes through :meth:`Ctx.pick`, which
keeps its last quarter for test rows.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

from querytune.datasets.sourcegraph import vocab as v

#: share of scope/option/time phrases drawn from their short (1-3 word) phrasings
SHORT_SHARE = 0.9
_PLAIN_PATTERN = re.compile(r"[A-Za-z0-9_.$#@&*+=<>!?,;/-]+")


@dataclass
class Ctx:
    """The row's random source, date, whether it belongs to the held-out test split, and what builder
    options change: factors on modifier chances (``generate(modifier_scale=...)``) and weights of
    content kinds (``generate(content_weights=...)``)."""

    rng: random.Random
    today: date
    held_out: bool = False
    scale: Mapping[str, float] = field(default_factory=dict)
    content_weights: Mapping[str, float] = field(default_factory=dict)

    def pick(self, options: list):
        """A phrasing; the last quarter of a list of 4+ is reserved for held-out rows."""
        keep = len(options) - len(options) // 4 if len(options) >= 4 else len(options)
        if self.held_out and keep < len(options) and self.rng.random() < 0.5:
            return self.rng.choice(options[keep:])
        return self.rng.choice(options[:keep])

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def short(self, short: list, long: list, share: float | None = None):
        """A phrasing, from the 1-3 word list most of the time (real requests are terse)."""
        return self.pick(short if self.chance(SHORT_SHARE if share is None else share) else long)


@dataclass
class RepoRef:
    """Repos the request names; resolved against the candidates once those are drawn."""

    fulls: list[str]
    mentions: list[str]
    rev: str | None = None
    rev_style: str = "@"  # "@" -> repo:x@rev, "field" -> repo:x rev:rev
    implicit: bool = False  # "this repo": only resolvable through a single candidate
    collective: bool = False  # "in both repos": the named repos are exactly the candidates


@dataclass
class Draft:
    intent: str
    what: str = ""
    pattern: str = ""  # the pattern expression, as query text
    pattern_or: bool = False  # top-level OR: parenthesise when filters are present
    params: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)
    repo: RepoRef | None = None
    excluded: RepoRef | None = None  # "every repo except X": resolved against the candidates like ``repo``
    lang: str | None = None
    code_lang: str | None = None  # the language of the code snippet searched for: every language filter keeps to it
    no_repo_predicates: bool = False  # rev: cannot be combined with repo predicates
    file_specific: bool = False  # a file name or extension filter (implies a language)
    lang_fragment: int | None = None  # the "in Python" fragment's index: "test files" can become "Python test files"
    bare: bool = False  # the request is the content alone, typed like a search box

    def add(self, param: str, fragment: str | None = None) -> "Draft":
        self.params.append(param)
        if fragment:
            self.fragments.append(fragment)
        return self

    def fields(self) -> set[str]:
        return {p.lstrip("-(").split(":")[0] for p in self.params}

    def langs(self) -> set[str]:
        """The languages the query is limited to (``lang:x``, either side of ``(lang:a OR lang:b)``)."""
        return set(re.findall(r"(?<![-\w])lang:([^\s()]+)", " ".join(self.params)))


# ---------------------------------------------------------------- small helpers


def pattern_token(code: str) -> str:
    """A search term as query text: bare when it is one plain token, else a quoted phrase, in single
    quotes when it holds a double quote (as a hand-written gold does: ``'"strict": true'``, no escapes).

    >>> pattern_token("useEffect"), pattern_token("async def"), pattern_token("panic(")
    ('useEffect', '"async def"', '"panic("')
    >>> print(pattern_token('"net/http"'))
    '"net/http"'
    """
    plain = (_PLAIN_PATTERN.fullmatch(code) and code.lower() not in ("and", "or", "not")
             and not re.match(r"-|/|[A-Za-z]+:(?![:/])", code))
    if plain:
        return code
    if '"' in code and "'" not in code and "\\" not in code:
        return f"'{code}'"
    return '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dots(name: str) -> str:
    return name.replace(".", "\\.")


def regex_escape(text: str) -> str:
    """A regex matching ``text``, with ``\\s`` for spaces so it stays one token."""
    return re.escape(text).replace("\\ ", "\\s")


def say_code(ctx: Ctx, code: str) -> str:
    """How a request writes a code snippet: bare, or in double or single quotes when it has spaces."""
    if " " in code or code.lower() in ("and", "or", "not"):
        return ctx.pick([f'"{code}"', f'"{code}"', f"'{code}'", code])
    return f'"{code}"' if ctx.chance(0.1) else code


def lang_said(ctx: Ctx, lang: str) -> str:
    return ctx.rng.choice(v.LANG_NAMES[lang])
