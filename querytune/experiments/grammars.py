"""Grammar building blocks, written once and rendered for both grammar engines.

A grammar is a dict ``name -> expression`` (``root`` first). Expressions are the
dataclasses below. Names in UPPER case are *lexemes*: they may refer only to other
lexemes, and :func:`to_lark` turns each into one regular expression, because
llguidance lexes with regexes and parses the lexemes with Earley (one big lexeme per
term keeps its masks fast). Lower-case names are rules and may recurse. GBNF for
xgrammar gets every name as a plain rule. :func:`sample` draws random strings from
the same description, which is how tests compare a grammar with its parser.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

#: what Python's ``str.isspace`` (and so ``\\s`` and ``str.strip``) counts as whitespace
WHITESPACE = "".join(c for c in map(chr, range(0x3000 + 1)) if c.isspace())
#: characters a negated class is sampled from (ASCII plus a few others)
_SAMPLE_POOL = "".join(map(chr, range(32, 127))) + "\téü→中"


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class NoCase:
    text: str  # this text in any letter case


@dataclass(frozen=True)
class Chars:
    chars: str  # the allowed characters, spelled out


@dataclass(frozen=True)
class NotChars:
    chars: str  # every character except these


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
    hi: int | None  # None: unbounded


@dataclass(frozen=True)
class Ref:
    name: str


def _wrap(item):
    return Lit(item) if isinstance(item, str) else item


def seq(*items) -> Seq:
    return Seq(tuple(map(_wrap, items)))


def alt(*options) -> Alt:
    return Alt(tuple(map(_wrap, options)))


def opt(item) -> Rep:
    return Rep(_wrap(item), 0, 1)


def star(item) -> Rep:
    return Rep(_wrap(item), 0, None)


def plus(item) -> Rep:
    return Rep(_wrap(item), 1, None)


def nocase(word: str) -> NoCase | Lit:
    """``word`` in any letter case (GBNF ``[gG][oO]``, Lark ``"go"i``)."""
    return NoCase(word) if any(c.lower() != c.upper() for c in word) else Lit(word)


def _spelled_out(word: str) -> Seq:
    return Seq(tuple(Chars(c.lower() + c.upper()) if c.lower() != c.upper() else Lit(c) for c in word))


def words_except(excluded: set[str], letters: str) -> object:
    """Non-empty runs of ``letters`` that are none of ``excluded`` (compared lowercased).

    Built as a trie over ``excluded``: at each node a run may stop (unless the prefix is
    excluded), leave the trie with a letter no excluded word continues with, or go on.
    """
    def node(prefix: str) -> object:
        live = {w for w in excluded if w.startswith(prefix) and len(w) > len(prefix)}
        hot = sorted({w[len(prefix)] for w in live})
        cold = "".join(c for c in letters if c.lower() not in hot)
        options = [seq(Chars(cold), star(Chars(letters)))] if cold else []
        for letter in hot:
            options.append(seq(Chars("".join(c for c in letters if c.lower() == letter)), node(prefix + letter)))
        if prefix and prefix not in excluded:
            options.append(Lit(""))
        return Alt(tuple(options))

    return node("")


# ---------------------------------------------------------------- GBNF (xgrammar)


def to_gbnf(rules: dict[str, object]) -> str:
    """GBNF text (``root ::= ...``), one line per rule."""
    return "\n".join(f"{_gbnf_name(name)} ::= {_gbnf(expr, top=True)}" for name, expr in rules.items()) + "\n"


def _gbnf_name(name: str) -> str:
    return name.lower().replace("_", "-")


def _gbnf(expr, top: bool = False) -> str:
    if isinstance(expr, Lit):
        return _gbnf_string(expr.text)
    if isinstance(expr, NoCase):
        return f"({_gbnf(_spelled_out(expr.text))})"
    if isinstance(expr, Chars):
        return "[" + _class_body(expr.chars) + "]"
    if isinstance(expr, NotChars):
        return _gbnf_negated(expr.chars)
    if isinstance(expr, Ref):
        return _gbnf_name(expr.name)
    return _composite(expr, _gbnf, top)


def _composite(expr, render, top: bool) -> str:
    """A Seq, Alt or Rep with ``render`` writing its parts: the same in GBNF and Lark, which
    differ only in how they write strings, classes and names."""
    if isinstance(expr, Seq):
        return " ".join(render(item) for item in expr.items if item != Lit("")) or '""'
    if isinstance(expr, Alt):
        text = " | ".join(render(option) for option in expr.options)
        return text if top else f"({text})"
    inner = render(expr.item)
    inner = inner if isinstance(expr.item, (Lit, NoCase, Chars, NotChars, Ref)) else f"({inner})"
    return inner + _quantifier(expr.lo, expr.hi)


def _gbnf_string(text: str) -> str:
    return '"' + "".join(_escape(c, '"\\') for c in text) + '"' if text else '""'


def _escape(char: str, specials: str) -> str:
    if char in specials:
        return "\\" + char
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    if not char.isprintable() or char.isspace() and char != " ":
        return f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}"
    return char


def _gbnf_negated(chars: str) -> str:
    """``[^...]``, or its complement spelled as ranges when it excludes non-ASCII characters
    (xgrammar 0.2.3 clamps those to 127 in a negated class and then fails to compile)."""
    if all(ord(c) < 128 for c in chars):
        return "[^" + _class_body(chars) + "]"
    ranges, low = [], 0
    for code in sorted(set(map(ord, chars))) + [0x110000]:
        if code > low:
            ranges.append((low, code - 1))
        low = code + 1
    body = "".join(_escape(chr(a), "\\]^[-") + ("" if a == b else "-" + _escape(chr(b), "\\]^[-"))
                   for a, b in ranges)
    return "[" + body + "]"


def _class_body(chars: str) -> str:
    """Sorted ranges; ``-`` only as the last character, so no engine reads a range from it."""
    codes = sorted(set(map(ord, chars)) - {ord("-")})
    parts, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[i - 1] + 1:
            low, high = (_escape(chr(code), "\\]^[") for code in (codes[start], codes[i - 1]))
            parts.append(low if i - start == 1 else f"{low}{high}" if i - start == 2 else f"{low}-{high}")
            start = i
    return "".join(parts) + ("-" if "-" in chars else "")


def _quantifier(lo: int, hi: int | None) -> str:
    fixed = {(0, 1): "?", (0, None): "*", (1, None): "+"}
    if (lo, hi) in fixed:
        return fixed[(lo, hi)]
    if hi is None:
        return f"{{{lo},}}"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


# ---------------------------------------------------------------- Lark (llguidance)


def to_lark(rules: dict[str, object]) -> str:
    """Lark text for llguidance: ``start`` is ``root``; UPPER names are terminals (one lexeme each).

    A sub-expression of the lexemes that occurs more than once and is longer than
    :data:`SHARED_MIN_CHARS` is written once, as a terminal ``SHARED_<n>``, and named where
    it occurs. The language is the same; llguidance builds each terminal's regex once, and
    it compiles a grammar for every request in vLLM, in time that follows the text's length
    (the served sourcegraph grammar: 161 KB and ~60 ms inlined, BENCHMARKS.md).
    """
    for name, expr in rules.items():
        if name.isupper() and (lower := _rule_refs(expr)):
            raise ValueError(f"lexeme {name} refers to rules {sorted(lower)}: lexemes may use only UPPER names")
    plain = _LarkWriter({})
    for name, expr in rules.items():
        if name.isupper():
            plain.render(expr, top=True)
    shared = {text: f"SHARED_{i}" for i, text in enumerate(
        t for t, count in plain.counts.items() if count > 1 and len(t) >= SHARED_MIN_CHARS)}
    writer = _LarkWriter(shared)  # rules keep their lexemes apart: a shared piece is one lexeme, so lexemes only
    lines = [f"{'start' if name == 'root' else name}: {(writer if name.isupper() else plain).render(expr, top=True)}"
             for name, expr in rules.items()]
    # each shared piece once, itself written with the shorter shared pieces it holds
    lines += [f"{name}: {writer.render_shared(text)}" for text, name in shared.items()]
    return "\n".join(lines) + "\n"


#: the shortest repeated piece of lexeme that :func:`to_lark` names instead of writing out again
SHARED_MIN_CHARS = 24


class _LarkWriter:
    """Renders expressions as Lark; a piece whose plain text is a key of ``shared`` is written as its name.

    ``counts`` tallies the plain text of every composite piece rendered (the input of the sharing step).
    """

    def __init__(self, shared: dict[str, str]):
        self.shared = shared
        self.counts: Counter[str] = Counter()
        self._plain: dict[str, object] = {}  # plain text -> an expression that renders to it

    def render(self, expr, top: bool = False) -> str:
        _, (out, kind) = self._render(expr)
        return out if top else _wrapped(out, kind, "seq")

    def render_shared(self, text: str) -> str:
        return self._render(self._plain[text], name_self=False)[1][0]

    def _render(self, expr, name_self: bool = True) -> tuple[tuple[str, str], tuple[str, str]]:
        """((plain text, kind), (text with shared pieces named, kind)) of ``expr``, each as it would
        stand alone; kind is ``atom``, ``seq`` or ``alt`` (what its parent must wrap in parens)."""
        if isinstance(expr, (Lit, NoCase, Chars, NotChars, Ref)):
            text = _lark(expr)
            return (text, "atom"), (text, "atom")
        if isinstance(expr, (Seq, Alt)):
            kind = "seq" if isinstance(expr, Seq) else "alt"
            children = [self._render(c) for c in (expr.items if kind == "seq" else expr.options)
                        if not (kind == "seq" and c == Lit(""))]
            joiner = " " if kind == "seq" else " | "
            plain = joiner.join(_wrapped(t, k, kind) for (t, k), _ in children) or '""'
            out = joiner.join(_wrapped(t, k, kind) for _, (t, k) in children) or '""'
            if len(children) <= 1:  # a one-item sequence or alternation is its item
                kind = children[0][0][1] if children else "atom"
                result = ((plain, kind), (out, children[0][1][1] if children else "atom"))
            else:
                result = ((plain, kind), (out, kind))
        else:
            (plain, plain_kind), (out, out_kind) = self._render(expr.item)
            quantifier = _quantifier(expr.lo, expr.hi)
            result = ((_wrapped(plain, plain_kind, "rep") + quantifier, "atom"),
                      (_wrapped(out, out_kind, "rep") + quantifier, "atom"))
        plain = result[0][0]
        self.counts[plain] += 1
        self._plain.setdefault(plain, expr)
        if name_self and plain in self.shared:
            return result[0], (self.shared[plain], "atom")
        return result


def _wrapped(text: str, kind: str, context: str) -> str:
    """``text`` in parens where it stands inside a ``context`` (``seq``, ``alt`` or ``rep``) that needs them."""
    needs = kind == "alt" and context != "alt" or kind == "seq" and context == "rep"
    return f"({text})" if needs else text


def _rule_refs(expr) -> set[str]:
    if isinstance(expr, Ref):
        return set() if expr.name.isupper() else {expr.name}
    children = getattr(expr, "items", None) or getattr(expr, "options", None) or (
        (expr.item,) if isinstance(expr, Rep) else ())
    return set().union(*map(_rule_refs, children)) if children else set()


def _lark(expr, top: bool = False) -> str:
    if isinstance(expr, Lit):
        return _lark_string(expr.text)
    if isinstance(expr, NoCase):
        return _lark_string(expr.text) + "i"
    if isinstance(expr, Chars):
        return f"/[{_regex_class(expr.chars)}]/"
    if isinstance(expr, NotChars):
        return f"/[^{_regex_class(expr.chars)}]/"
    if isinstance(expr, Ref):
        return expr.name
    return _composite(expr, _lark, top)


def _lark_string(text: str) -> str:
    return '"' + "".join(_escape(c, '"\\') for c in text) + '"'


def _regex_class(chars: str) -> str:
    """The body of a Rust-regex character class, as ranges."""
    codes = sorted(set(map(ord, chars)))
    parts, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[i - 1] + 1:
            low, high = _class_char(codes[start]), _class_char(codes[i - 1])
            parts.append(low if i - start == 1 else f"{low}{high}" if i - start == 2 else f"{low}-{high}")
            start = i
    return "".join(parts)


def _class_char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


# ---------------------------------------------------------------- sampling


def sample(rules: dict[str, object], rng: random.Random, start: str = "root", max_depth: int = 8) -> str:
    """A random string of the grammar: each repetition goes on with odds 1/2; past ``max_depth``
    references it takes first options and fewest repetitions."""
    return _sample(Ref(start), rules, rng, 0, max_depth)


def _sample(expr, rules, rng: random.Random, depth: int, max_depth: int) -> str:
    if isinstance(expr, Lit):
        return expr.text
    if isinstance(expr, NoCase):
        return "".join(rng.choice((c.lower(), c.upper())) for c in expr.text)
    if isinstance(expr, Chars):
        return rng.choice(expr.chars)
    if isinstance(expr, NotChars):
        return rng.choice([c for c in _SAMPLE_POOL if c not in expr.chars])
    if isinstance(expr, Ref):
        return _sample(rules[expr.name], rules, rng, depth + 1, max_depth)
    if isinstance(expr, Seq):
        return "".join(_sample(item, rules, rng, depth, max_depth) for item in expr.items)
    if isinstance(expr, Alt):
        option = expr.options[0] if depth > max_depth else rng.choice(expr.options)
        return _sample(option, rules, rng, depth, max_depth)
    count = expr.lo
    while depth <= max_depth and (expr.hi is None or count < expr.hi) and rng.random() < 0.5:
        count += 1
    return "".join(_sample(expr.item, rules, rng, depth, max_depth) for _ in range(count))

