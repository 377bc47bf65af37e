"""The constrained-decoding grammar of QMD answers, for xgrammar (GBNF) and llguidance (Lark).

An answer is 1 to 7 ``kind: text`` lines joined by single newlines, with at most 3
``lex``, 3 ``vec`` and 1 ``hyde`` in any order: every format the scorer rewards (the
``/only:`` formats too) and nothing :func:`parse.parse` rejects. Text is one line,
starts with a non-space and holds no ``<|`` (a chat token typed out would fail the
parse). There is no newline after the last line: the model ends its turn there, and
a grammar that wanted a final newline would mask the end-of-turn token exactly where
the model writes it.

The counts make a small automaton: rule ``after_L_V_H`` is what may follow once L lex,
V vec and H hyde lines are written.
"""
from __future__ import annotations

import itertools
import random
from functools import lru_cache

from querytune.experiments import grammars as g
from querytune.experiments.grammars import Alt, Lit, NotChars, Ref, opt, seq, star
from querytune.experiments.qmd.parse import CANONICAL_MAX, KINDS


def _state(counts: tuple[int, ...]) -> str:
    return "after_" + "_".join(map(str, counts))


def _next_lines(counts: tuple[int, ...]) -> list:
    """One more line of each kind that still has room, then the state it leads to."""
    options = []
    for i, kind in enumerate(KINDS):
        if counts[i] < CANONICAL_MAX[kind]:
            following = tuple(c + (j == i) for j, c in enumerate(counts))
            options.append(seq(f"{kind}: ", Ref("TEXT"), Ref(_state(following))))
    return options


@lru_cache(maxsize=1)
def rules() -> dict[str, object]:
    rules: dict[str, object] = {"root": Alt(tuple(_next_lines((0, 0, 0))))}
    for counts in itertools.product(*(range(CANONICAL_MAX[kind] + 1) for kind in KINDS)):
        if any(counts):
            more = _next_lines(counts)
            rules[_state(counts)] = Alt((Lit(""), seq("\n", Alt(tuple(more))))) if more else Lit("")
    # no chat token spelled out: '<' only when no '|' follows
    char = g.alt(NotChars("\n\r<"), seq("<", NotChars("\n\r|<")))
    rules["TEXT"] = seq(g.alt(NotChars(g.WHITESPACE + "<"), seq("<", NotChars(g.WHITESPACE + "|<"))),
                        star(char), opt("<"))
    return rules


@lru_cache(maxsize=1)
def grammar_gbnf() -> str:
    return g.to_gbnf(rules())


@lru_cache(maxsize=1)
def grammar_lark() -> str:
    return g.to_lark(rules())


def sample(rng: random.Random) -> str:
    return g.sample(rules(), rng)
