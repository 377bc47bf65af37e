"""Canonical form: two queries mean the same search iff their canonical texts are equal.

Folds what does not change the search [spec 11]: field aliases and case, ``NOT f:x``
vs ``-f:x``, parameter order and duplicates, redundant quotes, language aliases,
boolean spellings, defaults (``case:no``, ``fork:no``, ``archived:no``,
``visibility:any``, ``patterntype:keyword``, ``context:global``), ``count:all``,
``repo:x@rev`` vs ``repo:x rev:rev``, ``contains.*`` vs ``has.*``, ``select:file.path``,
``patterntype:regex``, repo-regex anchors, ``github.com/`` prefixes and escaped dots,
relative dates (resolved against the request date, else written in the largest
unit: ``"7 days ago"`` = ``"1 week ago"``), in keyword mode the order of ANDed terms
and ``a AND b`` vs ``a b``, parameters on both sides of ``AND`` (one set), ``file:``
values like repo values (``setup.py`` = ``setup\\.py$``: escaped dots and a trailing
``$``), letter case of patterns and ``file:`` values without ``case:yes``, a regexp-mode
query whose regexes are not juxtaposed (``re patterntype:regexp`` = ``/re/``, and a
single plain word needs no ``patterntype:regexp``).

Kept apart: pattern quoting, term order outside keyword mode, negation, every value
that narrows results, and a leading ``^`` that does not anchor a host (``repo:^acme/web``
matches nothing where names start with ``github.com/``). Given the candidate
repositories, a repo value also carries the candidates it selects, so ``repo:acme/web``
and ``repo:^github\\.com/acme/web$`` differ when ``acme/web-app`` is a candidate too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from querytune.experiments.sourcegraph import values as v
from querytune.experiments.sourcegraph.grammar import FIELDS, canonical_field, parse_query
from querytune.experiments.sourcegraph.languages import canonical_language
from querytune.experiments.sourcegraph.nodes import Node, Op, Param, Pattern, Query

_DEFAULTS = {("case", "no"), ("fork", "no"), ("archived", "no"), ("index", "yes"),
             ("visibility", "any"), ("context", "global")}
#: parameter order in canonical text (the order people write them in)
_FIELD_ORDER = ["patterntype", "type", "repo", "rev", "file", "lang", "author", "committer", "message",
                "after", "before", "select", "case", "fork", "archived", "visibility", "count",
                "timeout", "context", "index", "rule"]
_FIELD_SHAPE = re.compile(r"-?([A-Za-z]+):")
_PLAIN = re.compile(r"[^\s\"'()\\]*[^\s\"'()\\:]|[^\s\"'()]+")
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.$#@&*+=<>!?,;:-]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


@dataclass(frozen=True)
class Canonical:
    """``text`` decides semantic equality; ``filters`` and ``patterns`` feed partial credit."""

    text: str
    filters: frozenset[tuple[str, str, bool]]  # (field, canonical value, negated)
    patterns: str  # the pattern expression alone, canonical


@dataclass(frozen=True)
class _Context:
    mode: str  # pattern type the canonical form is written in
    today: date | None
    fold_case: bool  # no case:yes: letter case of patterns and file: values does not matter
    regex_words: bool = False  # regexp-mode words rewritten as /regex/ terms in keyword mode
    candidates: tuple[str, ...] = ()  # full repo names (github.com/o/n) the request came with


def canonicalize(query: str | Query, today: date | None = None,
                 candidates: Sequence[str] | None = None) -> Canonical:
    """Canonical form of a parseable query; ``today`` resolves relative dates and
    ``candidates`` (repo names) tell repo regexes that select different candidates apart.

    >>> canonicalize('R:^github\\\\.com/Org/App$ NOT file:test L:Golang foo').text
    'repo:org/app -file:test lang:go foo'
    >>> canonicalize('type:commit after:"1 week ago"', date(2026, 11, 25)).text
    'type:commit after:2026-11-18'
    >>> canonicalize('patterntype:regexp Foo.*Bar file:Setup\\\\.py$').text
    'file:setup.py /foo.*bar/'
    """
    parsed = parse_query(query) if isinstance(query, str) else query
    mode = parsed.pattern_type()
    case = any(p.field == "case" and v.BOOLS.get(p.value.lower()) == "yes" for p in parsed.params())
    regex_words = mode == "regexp" and not _joins_patterns(parsed.root)
    ctx = _Context("keyword" if regex_words else mode, today, not case, regex_words,
                   tuple(_full_name(c) for c in candidates or ()))
    tree = _node(parsed.root, ctx) if parsed.root is not None else None
    if ctx.mode != "keyword":
        tree = _merge(Op("and", (Param("patterntype", ctx.mode),)), tree)
    explicit_and = ctx.mode != "keyword"
    filters = frozenset((p.field, _render_value(p), p.negated) for p in _params(tree))
    return Canonical(_render(tree, explicit_and=explicit_and), filters,
                     _render(_without_params(tree), explicit_and=explicit_and))


def semantic_match(a: str | Query, b: str | Query, today: date | None = None,
                   candidates: Sequence[str] | None = None) -> bool:
    return canonicalize(a, today, candidates).text == canonicalize(b, today, candidates).text


def _full_name(repo: str) -> str:
    """``acme/web`` -> ``github.com/acme/web``; names that start with a host are kept."""
    return repo if "." in repo.split("/", 1)[0] else f"github.com/{repo}"


def _joins_patterns(node: Node | None) -> bool:
    """Whether two pattern terms are juxtaposed (regexp mode joins them with ``.*?``;
    a ``NOT`` term is not joined)."""
    if not isinstance(node, Op):
        return False
    with_patterns = [o for o in node.operands if not isinstance(o, Param) and _has_pattern(o)
                     and not (isinstance(o, Pattern) and o.negated)]
    return (node.kind == "concat" and len(with_patterns) > 1) or any(_joins_patterns(o) for o in node.operands)


def _has_pattern(node: Node) -> bool:
    if isinstance(node, Op):
        return any(_has_pattern(o) for o in node.operands)
    return isinstance(node, Pattern) or (isinstance(node, Param) and node.field == "content")


# ---------------------------------------------------------------- tree


def _node(node: Node, ctx: _Context) -> Node | None:
    if isinstance(node, Param):
        parts = _param(node, ctx)
        return None if not parts else parts[0] if len(parts) == 1 else Op("and", parts)
    if isinstance(node, Pattern):
        return _leading_group(node, ctx) or _pattern(node, ctx)
    operands = [o for o in (_node(op, ctx) for op in node.operands) if o is not None]
    kind = "and" if node.kind == "concat" and ctx.mode == "keyword" else node.kind
    return _build(kind, operands)


def _leading_group(pattern: Pattern, ctx: _Context) -> Node | None:
    """Keyword mode reads ``(get|set)Value`` as the group ``(get|set)`` then ``Value``."""
    if ctx.mode != "keyword" or ctx.regex_words or pattern.kind != "word" or pattern.negated:
        return None
    depth = 0
    for i, char in enumerate(pattern.value):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            break
    inner, rest = pattern.value[1:i], pattern.value[i + 1:]
    if not pattern.value.startswith("(") or not inner or not rest:
        return None
    return _build("and", [_pattern(Pattern(inner), ctx), _pattern(Pattern(rest), ctx)])


def _build(kind: str, operands: list[Node]) -> Node | None:
    """Flatten, sort what commutes (OR operands, params, ANDed patterns), keep concat order.

    Parameters are one conjunctive set across AND and juxtaposition: those inside an
    operand (``repo:x@main`` -> ``repo:x rev:main``, ``lang:go a AND file:x b``) move up.
    """
    flat: list[Node] = []
    for operand in operands:
        same = isinstance(operand, Op) and (operand.kind == kind or {operand.kind, kind} == {"and"})
        params_only = isinstance(operand, Op) and operand.kind == "and" and all(
            isinstance(o, Param) for o in operand.operands)
        if kind != "or" and not same and isinstance(operand, Op) and operand.kind in ("and", "concat"):
            inner = [o for o in operand.operands if isinstance(o, Param)]
            rest = [o for o in operand.operands if not isinstance(o, Param)]
            if inner and (params_only or kind == "and"):
                flat.extend(inner)
                operand = None if not rest else rest[0] if len(rest) == 1 else Op(operand.kind, tuple(rest))
        if operand is not None:
            flat.extend(operand.operands if same else [operand])
    if kind == "or":
        flat = sorted(set(flat), key=_render)
    else:
        params = sorted({o for o in flat if isinstance(o, Param)}, key=_param_order)
        rest = [o for o in flat if not isinstance(o, Param)]
        if kind == "and":
            rest = sorted(set(rest), key=_render)
        flat = params + rest
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else Op(kind, tuple(flat))


def _param_order(param: Param) -> tuple[int, bool, str]:
    rank = _FIELD_ORDER.index(param.field) if param.field in _FIELD_ORDER else len(_FIELD_ORDER)
    return rank, param.negated, _render(param)


def _merge(extra: Op, tree: Node | None) -> Node:
    return _build("and", [*extra.operands, *([tree] if tree is not None else [])])


def _params(node: Node | None) -> list[Param]:
    if isinstance(node, Param):
        return [node]
    if isinstance(node, Op):
        return [p for o in node.operands for p in _params(o)]
    return []


def _without_params(node: Node | None) -> Node | None:
    if isinstance(node, Op):
        kept = [o for o in (_without_params(x) for x in node.operands) if o is not None]
        return None if not kept else kept[0] if len(kept) == 1 else Op(node.kind, tuple(kept))
    return None if isinstance(node, Param) else node


# ---------------------------------------------------------------- leaves


def _pattern(pattern: Pattern, ctx: _Context) -> Pattern:
    kind, value = pattern.kind, pattern.value
    if ctx.regex_words and kind == "word":
        kind = "regex"
    if ctx.fold_case:
        regex = kind == "regex" or (kind == "word" and ctx.mode == "regexp")
        value = _lower_regex(value) if regex else value.lower()
    shape = _FIELD_SHAPE.match(value)
    filter_like = shape is not None and canonical_field(shape.group(1)) in FIELDS
    plain = _WORD.fullmatch(value) and value.lower() not in ("and", "or", "not") and not filter_like
    if ctx.mode == "keyword" and kind == "quoted" and plain:
        return Pattern(value, "word", pattern.negated)
    if ctx.mode in ("keyword", "standard") and kind == "regex" and re.fullmatch(r"\w+", value):
        return Pattern(value, "word", pattern.negated)
    return Pattern(value, kind, pattern.negated)


def _param(param: Param, ctx: _Context) -> tuple[Node, ...]:
    field, value, negated, today = param.field, param.value, param.negated, ctx.today
    if field == "patterntype":
        return ()
    if field == "content":
        kind = "word" if ctx.mode == "regexp" or ctx.regex_words and not param.quoted else "quoted"
        kind = "quoted" if param.quoted else kind
        return (_pattern(Pattern(value, kind, negated), ctx),)
    if field == "repohasfile":
        return (Param("repo", "", negated, predicate="has.path", args=value),)
    if field == "repohascommitafter":
        return (Param("repo", "", negated, predicate="has.commit.after", args=_date(value, today)),)
    if param.predicate:
        return (_predicate(param, today),)
    if field == "repo":
        repo = Param("repo", _repo_value(value, ctx), negated)
        return (repo, Param("rev", param.rev)) if param.rev else (repo,)  # "x@" = default branch
    if field == "file":
        return (Param("file", _path_regex(value, ctx.fold_case), negated),)
    value = _VALUE_RULES.get(field, lambda s, t: s)(value, today)
    if (field, value) in _DEFAULTS:
        return ()
    return (Param(field, value, negated),)


def _predicate(param: Param, today: date | None) -> Param:
    name = re.sub(r"^contains", "has", param.predicate)
    args = " ".join((param.args or "").split())
    if name == "has.file" and re.fullmatch(r"path:\S+", args):
        name, args = "has.path", args[len("path:"):]
    elif name == "has.file" and ":" in args:
        args = " ".join(sorted(args.split()))
    elif name == "has.file":
        name = "has.path"
    if name == "has.commit.after":
        args = _date(args, today)
    if name == "at.time":
        when, _, rev = args.partition(",")
        args = ", ".join(x for x in (_date(when.strip(), today), rev.strip()) if x)
    return Param(param.field, "", param.negated, predicate=name, args=args)


def _repo_value(value: str, ctx: _Context) -> str:
    """``^github\\.com/Org/App$`` -> ``org/app``, plus ``{the candidates it selects}`` if any."""
    regex = _repo_regex(value)
    chosen = [c for c in ctx.candidates if _search(value, c)]
    return f"{regex}{{{','.join(chosen)}}}" if chosen else regex


def _repo_regex(value: str) -> str:
    """``^github\\.com/Org/App$`` -> ``org/app``: a host with its anchor, ``$`` and dot
    escapes dropped; a ``^`` before a name without host (``^acme/``) is kept."""
    value = _lower_regex(value)
    value = re.sub(r"^\^?github\\?\.com/", "", value)
    return _path_regex(value, fold_case=True)


def _path_regex(value: str, fold_case: bool) -> str:
    """``Setup\\.py$`` -> ``setup.py``: escaped dots and a trailing ``$`` do not matter in practice."""
    value = _lower_regex(value) if fold_case else value
    value = re.sub(r"(?<!\\)((?:\\\\)*)\\\.", r"\1.", value)
    body = value[:-1]
    if value.endswith("$") and (len(body) - len(body.rstrip("\\"))) % 2 == 0:
        value = value[:-1]
    return value


def _lower_regex(value: str) -> str:
    """Lowercase a regex without touching escapes (``\\D`` is not ``\\d``)."""
    return re.sub(r"\\.|[^\\]+", lambda m: m.group() if m.group().startswith("\\") else m.group().lower(), value)


def _search(regex: str, name: str) -> bool:
    try:
        return re.search(regex, name, re.IGNORECASE) is not None
    except re.error:
        return False


def _date(value: str, today: date | None) -> str:
    return v.resolve_date(value, today) or value


def _duration(value: str, today: date | None) -> str:
    nanos = sum(float(n) * _NANOS[unit] for n, unit in _DURATION_PART.findall(value))
    return f"{nanos / 1e9:g}s"


def _count(value: str, today: date | None) -> str:
    return str(v.COUNT_ALL) if value.lower() == "all" else str(int(value)) if value.isdigit() else value


_VALUE_RULES = {
    "lang": lambda s, t: canonical_language(s) or s.lower(),
    "type": lambda s, t: s.lower(),
    "case": lambda s, t: v.BOOLS.get(s.lower(), s),
    "fork": lambda s, t: v.YES_NO_ONLY.get(s.lower(), s),
    "archived": lambda s, t: v.YES_NO_ONLY.get(s.lower(), s),
    "index": lambda s, t: v.YES_NO_ONLY.get(s.lower(), s),
    "visibility": lambda s, t: s.lower(),
    "select": lambda s, t: "file" if s.lower() == "file.path" else s.lower(),
    "count": _count,
    "timeout": _duration,
    "before": _date,
    "after": _date,
}


# ---------------------------------------------------------------- rendering


def _render(node: Node | None, nested: bool = False, explicit_and: bool = False) -> str:
    """Canonical text; ``explicit_and`` writes AND between patterns (outside keyword mode
    juxtaposition means something else)."""
    if node is None:
        return ""
    if isinstance(node, Param):
        return f"{'-' if node.negated else ''}{node.field}:{_render_value(node)}"
    if isinstance(node, Pattern):
        text = {"word": node.value, "regex": f"/{node.value}/"}.get(node.kind) or _quote(node.value)
        return f"NOT {text}" if node.negated else text
    if node.kind == "or":
        text = " OR ".join(_render(o, True, explicit_and) for o in node.operands)
        return f"({text})" if nested else text
    params = [_render(o) for o in node.operands if isinstance(o, Param)]
    rest = [o for o in node.operands if not isinstance(o, Param)]
    if len(rest) == 1:
        pattern = _render(rest[0], bool(params) and isinstance(rest[0], Op) and rest[0].kind == "or",
                          explicit_and)
    else:
        concat_inside = any(isinstance(o, Op) and o.kind == "concat" for o in rest)
        joiner = " AND " if node.kind == "and" and (concat_inside or explicit_and) else " "
        pattern = joiner.join(_render(o, True, explicit_and) for o in rest)
    text = " ".join(part for part in (*params, pattern) if part)
    return f"({text})" if nested and (params or len(rest) > 1) else text


def _render_value(param: Param) -> str:
    if param.predicate:
        return f"{param.predicate}({param.args})"
    value = param.value
    return value if _PLAIN.fullmatch(value) and _balanced(value) else _quote(value)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _balanced(value: str) -> bool:
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0
