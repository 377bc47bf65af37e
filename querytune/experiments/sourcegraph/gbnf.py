"""The constrained-decoding grammar, described once in Python and rendered as GBNF.

vLLM hands GBNF (``root ::= ...``) straight to xgrammar, while its Lark-to-EBNF
conversion is naive, so the grammar is emitted as GBNF. It is a *subset* of the
query language chosen so that every string it accepts passes our parser and
validator: allow-listed fields only, once-only fields in fixed slots at most once,
commit-only fields only after ``type:commit``/``type:diff``, values drawn from safe
character sets, one line, bounded length. :func:`sample` expands the same
description at random, which is how the tests check that claim.
"""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from querytune.experiments.sourcegraph.languages import ALIASES
from querytune.experiments.sourcegraph.values import SELECTS, SYMBOL_KINDS


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Chars:
    chars: str  # the allowed characters, spelled out


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    options: tuple


@dataclass(frozen=True)
class Rep:
    item: object
    lo: int
    hi: int


@dataclass(frozen=True)
class Ref:
    name: str


def seq(*items) -> Seq:
    return Seq(tuple(Lit(i) if isinstance(i, str) else i for i in items))


def alt(*options) -> Alt:
    return Alt(tuple(Lit(o) if isinstance(o, str) else o for o in options))


def opt(item) -> Rep:
    return Rep(Lit(item) if isinstance(item, str) else item, 0, 1)


LETTERS = string.ascii_letters
ALNUM = LETTERS + string.digits
PRINTABLE = "".join(c for c in map(chr, range(32, 127)) if c not in '"\\')
RESERVED = ("and", "or", "not")


def _avoiding(words: tuple[str, ...], length: int, first: str, rest: str):
    """Identifiers of exactly ``length`` chars that are none of ``words`` (any case)."""
    excluded = {w for w in words if len(w) == length}

    def build(i: int, live: set[str]):
        alphabet = first if i == 0 else rest
        if i == length:
            return None if live else Lit("")
        if not live:
            return seq(Chars(alphabet), Rep(Chars(rest), length - i - 1, length - i - 1))
        hot = {w[i] for w in live}
        branches = [seq(Chars("".join(c for c in alphabet if c.lower() not in hot)),
                        Rep(Chars(rest), length - i - 1, length - i - 1))]
        for letter in sorted(hot):
            tail = build(i + 1, {w for w in live if w[i] == letter})
            if tail is not None:
                branches.append(seq(Chars("".join(c for c in alphabet if c.lower() == letter)), tail))
        return Alt(tuple(branches))

    return build(0, excluded)


def _languages() -> Alt:
    safe = sorted(a for a in ALIASES if all(c in ALNUM + "+#._-" for c in a))
    return alt(*safe)


@lru_cache(maxsize=1)
def rules() -> dict[str, object]:
    """The grammar: rule name -> expression (``root`` first)."""
    word_first, word_rest = LETTERS + "_@#$!|", ALNUM + "_.$#@!&*+=<>?,;/|-"
    short_words = [_avoiding(RESERVED, n, word_first, word_rest) for n in (1, 2, 3)]
    ident = seq(Chars(LETTERS + "_"), Rep(Chars(ALNUM + "_"), 0, 24))
    select_code = sorted(s for s in SELECTS if not s.startswith("commit"))
    return {
        "root": alt(Ref("code-query"), Ref("commit-query"), Ref("symbol-query")),
        # filters may also trail the patterns (`foo -file:test`): they scope the whole expression
        "code-query": seq(Ref("options"), alt(seq(opt(seq(Ref("filters"), " ")), Ref("pattern-expr"),
                                                  opt(seq(" ", Ref("filters")))),
                                              Ref("filters"))),
        "options": seq(opt(seq("type:", alt("file", "path", "repo"), " ")), opt("case:yes "),
                       opt(seq("fork:", alt("yes", "only"), " ")),
                       opt(seq("archived:", alt("yes", "only"), " ")),
                       opt(seq("visibility:", alt("public", "private"), " ")),
                       opt(seq("select:", alt(*select_code), " ")),
                       opt(seq("count:", alt("all", seq(Chars("123456789"), Rep(Chars(string.digits), 0, 4))), " ")),
                       opt(seq("timeout:", Chars("123456789"), Rep(Chars(string.digits), 0, 1),
                               alt("s", "m"), " ")),
                       opt(seq("patterntype:", alt("standard", "literal"), " "))),
        "filters": seq(Ref("filter"), Rep(seq(" ", Ref("filter")), 0, 3)),
        "filter": alt(Ref("repo-filter"), Ref("file-filter"), Ref("lang-filter")),
        "repo-filter": alt(seq("repo:", Ref("repo-value"), opt(seq("@", Ref("rev")))),
                           seq("-repo:", Ref("repo-value")),
                           seq(opt("-"), "repo:has.path(", Ref("path-regex"), ")")),
        "repo-value": seq(opt("^"), opt("github\\.com/"), Ref("repo-segment"),
                          opt(alt("/", seq("/", Ref("repo-segment")))), opt("$")),
        "repo-segment": seq(Chars(ALNUM), Rep(Chars(ALNUM + "_-"), 0, 30),
                            opt(seq("\\.", Chars(ALNUM), Rep(Chars(ALNUM + "_-"), 0, 10)))),
        "rev": seq(Chars(ALNUM + "_"), Rep(Chars(ALNUM + "_./-"), 0, 30)),
        "file-filter": seq(opt("-"), "file:", Ref("path-regex")),
        "path-regex": seq(opt("^"), Rep(alt(Chars(ALNUM + "_/-"), "\\.", ".", ".*", seq(Chars(ALNUM), Chars("?*"))),
                                        1, 40), opt("$")),
        "lang-filter": seq(opt("-"), "lang:", Ref("language")),
        "language": _languages(),
        "pattern-expr": seq(Ref("and-expr"), Rep(seq(" OR ", Ref("and-expr")), 0, 2)),
        "and-expr": seq(Ref("unary"), Rep(seq(alt(" ", " AND "), Ref("unary")), 0, 4)),
        "unary": alt(Ref("pattern"), seq("NOT ", Ref("pattern")), seq("(", Ref("group-expr"), ")")),
        # one level of parentheses keeps the language finite (bounded length)
        "group-expr": seq(Ref("group-and"), Rep(seq(" OR ", Ref("group-and")), 0, 2)),
        "group-and": seq(Ref("group-unary"), Rep(seq(alt(" ", " AND "), Ref("group-unary")), 0, 3)),
        "group-unary": seq(opt("NOT "), Ref("pattern")),
        "pattern": alt(Ref("word"), Ref("quoted"), Ref("regex")),
        "word": seq(alt(*short_words, seq(Chars(word_first), Rep(Chars(word_rest), 3, 40))),
                    opt(seq("(", Rep(Chars(ALNUM + "_"), 0, 20), ")"))),
        "quoted": seq('"', Chars(PRINTABLE.replace(" ", "")), Rep(Chars(PRINTABLE), 0, 40), '"'),
        "regex": seq("/", Rep(seq(Ref("regex-atom"), opt(Ref("regex-quantifier"))), 1, 16), "/"),
        "regex-atom": alt(Ref("regex-char"), Ref("regex-class"),
                          seq("(", Ref("regex-branch"), Rep(seq("|", Ref("regex-branch")), 0, 3), ")")),
        # '-' only last in a class, so no range can run backwards
        "regex-class": seq("[", opt("^"), Rep(alt(Ref("regex-class-char"), "0-9", "a-z", "A-Z", "a-f", "A-F"), 1, 8),
                           opt("-"), "]"),
        "regex-branch": Rep(seq(Ref("regex-char"), opt(Chars("*+?"))), 1, 12),
        "regex-char": alt(Chars(ALNUM + "_.:#@,'<>=-"), Ref("regex-escape")),
        "regex-class-char": alt(Chars(ALNUM + "_.:#@,'<>="), Ref("regex-escape")),
        "regex-escape": alt(*(f"\\{c}" for c in ".sdw()[]{}$^+*?|/")),
        "regex-quantifier": alt(Chars("*+?"), seq("{", Chars("123456789"), opt(Chars(string.digits)), opt(","), "}"),
                                seq("{", Chars("01"), ",", Chars("123456789"), "}"),
                                seq("{2,", Chars("23456789"), "}")),
        "commit-query": seq(alt("type:commit", seq("type:diff", opt(seq(" select:commit.diff.",
                                                                        alt("added", "removed"))))),
                            Rep(seq(" ", Ref("commit-filter")), 0, 4), opt(seq(" ", Ref("pattern-expr")))),
        "commit-filter": alt(Ref("person-filter"), Ref("message-filter"), Ref("date-filter"), Ref("lang-filter"),
                             Ref("repo-filter"), Ref("file-filter")),
        "person-filter": seq(opt("-"), alt("author:", "committer:"),
                             alt(seq(Chars(ALNUM + "_"), Rep(Chars(ALNUM + "_.@-"), 0, 30)),
                                 seq('"', Chars(LETTERS), Rep(Chars(LETTERS + " ."), 0, 30), '"'))),
        "message-filter": seq(opt("-"), "message:",
                              alt(seq(Chars(ALNUM + "_"), Rep(Chars(ALNUM + "_.!-"), 0, 40)),
                                  seq('"', Chars(ALNUM), Rep(Chars(ALNUM + " _,-"), 0, 40), '"'))),
        "date-filter": seq(alt("after:", "before:"), Ref("date")),
        "date": alt(seq(alt("19", "20"), Chars(string.digits), Chars(string.digits), "-", Ref("month-day")),
                    "yesterday", "today",
                    seq('"', Chars("123456789"), opt(Chars(string.digits)), " ",
                        alt("day", "week", "month", "year", "hour"), opt("s"), ' ago"'),
                    seq('"last ', alt("week", "month", "year", "monday", "friday"), '"')),
        # every day that exists in every year (no Feb 29)
        "month-day": alt(seq(alt(seq("0", Chars("13578")), "10", "12"), "-", Ref("day-31")),
                         seq(alt(seq("0", Chars("469")), "11"), "-", Ref("day-30")), seq("02-", Ref("day-28"))),
        "day-28": alt(seq("0", Chars("123456789")), seq("1", Chars(string.digits)), seq("2", Chars("012345678"))),
        "day-30": alt(Ref("day-28"), "29", "30"),
        "day-31": alt(Ref("day-30"), "31"),
        "symbol-query": seq("type:symbol", opt(seq(" select:symbol.", alt(*SYMBOL_KINDS))),
                            Rep(seq(" ", Ref("filter")), 0, 2), opt(seq(" ", Ref("pattern-expr")))),
    }


# ---------------------------------------------------------------- rendering


def to_gbnf() -> str:
    """The grammar as GBNF text for xgrammar / vLLM structured outputs."""
    return "\n".join(f"{name} ::= {_expr(expr, top=True)}" for name, expr in rules().items()) + "\n"


def _expr(expr, top: bool = False) -> str:
    if isinstance(expr, Lit):
        return '"' + expr.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(expr, Chars):
        return _char_class(expr.chars)
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Seq):
        text = " ".join(_expr(item) for item in expr.items if item != Lit(""))
        return text or '""'
    if isinstance(expr, Alt):
        text = " | ".join(_expr(option) for option in expr.options)
        return text if top else f"({text})"
    inner = _expr(expr.item)
    inner = inner if isinstance(expr.item, (Lit, Chars, Ref)) else f"({inner})"
    if (expr.lo, expr.hi) == (0, 1):
        return f"{inner}?"
    return f"{inner}{{{expr.lo}}}" if expr.lo == expr.hi else f"{inner}{{{expr.lo},{expr.hi}}}"


def _char_class(chars: str) -> str:
    codes = sorted(set(map(ord, chars)))
    parts, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[i - 1] + 1:
            low, high = _class_char(codes[start]), _class_char(codes[i - 1])
            parts.append(low if i - start == 1 else f"{low}{high}" if i - start == 2 else f"{low}-{high}")
            start = i
    return "[" + "".join(parts) + "]"


def _class_char(code: int) -> str:
    char = chr(code)
    return "\\" + char if char in "\\]-^[" else char


# ---------------------------------------------------------------- sampling


def sample(rng: random.Random, start: str = "root") -> str:
    """A random string of the grammar (short repetitions are likelier than long ones)."""
    return _sample(Ref(start), rng)


def _sample(expr, rng: random.Random) -> str:
    if isinstance(expr, Lit):
        return expr.text
    if isinstance(expr, Chars):
        return rng.choice(expr.chars)
    if isinstance(expr, Ref):
        return _sample(rules()[expr.name], rng)
    if isinstance(expr, Seq):
        return "".join(_sample(item, rng) for item in expr.items)
    if isinstance(expr, Alt):
        return _sample(rng.choice(expr.options), rng)
    hi = expr.hi if rng.random() < 0.1 else min(expr.hi, expr.lo + 3)
    return "".join(_sample(expr.item, rng) for _ in range(rng.randint(expr.lo, hi)))


def to_regex() -> str:
    """The same language as one Python/RE2-compatible regex (the grammar has no recursion)."""
    return _regex(Ref("root"))


def _regex(expr) -> str:
    if isinstance(expr, Lit):
        return re.escape(expr.text)
    if isinstance(expr, Chars):
        return "[" + "".join(re.escape(c) for c in sorted(set(expr.chars))) + "]"
    if isinstance(expr, Ref):
        return _regex(rules()[expr.name])
    if isinstance(expr, Seq):
        return "".join(_regex(item) for item in expr.items)
    if isinstance(expr, Alt):
        return "(?:" + "|".join(_regex(option) for option in expr.options) + ")"
    return f"(?:{_regex(expr.item)}){{{expr.lo},{expr.hi}}}"


@lru_cache(maxsize=1)
def _compiled() -> re.Pattern:
    return re.compile(to_regex())


def accepts(text: str) -> bool:
    """Whether the constrained-decoding grammar accepts ``text`` exactly."""
    return _compiled().fullmatch(text) is not None
