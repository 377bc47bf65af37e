"""Canonical form: two queries mean the same search iff their canonical texts are equal.

Folds what does not change the search [spec 11]: field aliases and case, ``NOT f:x``
vs ``-f:x``, parameter order and duplicates, redundant quotes, language aliases,
boolean spellings, defaults (``case:no``, ``fork:no``, ``archived:no``,
``visibility:any``, ``patterntype:keyword``, ``context:global``), ``count:all``,
``repo:x@rev`` vs ``repo:x rev:rev``, ``contains.*`` vs ``has.*``, ``select:file.path``,
``patterntype:regex``, repo-regex anchors, ``github.com/`` prefixes and escaped dots,
relative dates (resolved against the request date), and in keyword mode the order
of ANDed terms and ``a AND b`` vs ``a b``. Pattern quoting, term order outside
keyword mode, negation and every value that narrows results are kept.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from querytune.experiments.sourcegraph import values as v
from querytune.experiments.sourcegraph.grammar import parse_query
from querytune.experiments.sourcegraph.languages import canonical_language
from querytune.experiments.sourcegraph.nodes import Node, Op, Param, Pattern, Query

_DEFAULTS = {("case", "no"), ("fork", "no"), ("archived", "no"), ("index", "yes"),
             ("visibility", "any"), ("context", "global")}
#: parameter order in canonical text (the order people write them in)
_FIELD_ORDER = ["patterntype", "type", "repo", "rev", "file", "lang", "author", "committer", "message",
                "after", "before", "select", "case", "fork", "archived", "visibility", "count",
                "timeout", "context", "index", "rule"]
_PLAIN = re.compile(r"[^\s\"'()\\]*[^\s\"'()\\:]|[^\s\"'()]+")
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.$#@&*+=<>!?,;-]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


@dataclass(frozen=True)
class Canonical:
    """``text`` decides semantic equality; ``filters`` and ``patterns`` feed partial credit."""

    text: str
    filters: frozenset[tuple[str, str, bool]]  # (field, canonical value, negated)
    patterns: str  # the pattern expression alone, canonical


def canonicalize(query: str | Query, today: date | None = None) -> Canonical:
    """Canonical form of a parseable query; ``today`` resolves relative dates.

    >>> canonicalize('R:^github\\\\.com/Org/App$ NOT file:test L:Golang foo').text
    'repo:org/app -file:test lang:go foo'
    >>> canonicalize('type:commit after:"1 week ago"', date(2026, 11, 25)).text
    'type:commit after:2026-11-18'
    """
    parsed = parse_query(query) if isinstance(query, str) else query
    mode = parsed.pattern_type()
    tree = _node(parsed.root, mode, today) if parsed.root is not None else None
    if mode != "keyword":
        tree = _merge(Op("and", (Param("patterntype", mode),)), tree)
    filters = frozenset((p.field, _render_value(p), p.negated) for p in _params(tree))
    return Canonical(_render(tree), filters, _render(_without_params(tree)))


def semantic_match(a: str | Query, b: str | Query, today: date | None = None) -> bool:
    return canonicalize(a, today).text == canonicalize(b, today).text


# ---------------------------------------------------------------- tree


def _node(node: Node, mode: str, today: date | None) -> Node | None:
    if isinstance(node, Param):
        parts = _param(node, mode, today)
        return None if not parts else parts[0] if len(parts) == 1 else Op("and", parts)
    if isinstance(node, Pattern):
        return _pattern(node, mode)
    operands = [o for o in (_node(op, mode, today) for op in node.operands) if o is not None]
    kind = "and" if node.kind == "concat" and mode == "keyword" else node.kind
    return _build(kind, operands)


def _build(kind: str, operands: list[Node]) -> Node | None:
    """Flatten, sort what commutes (OR operands, params, ANDed patterns), keep concat order."""
    flat: list[Node] = []
    for operand in operands:
        same = isinstance(operand, Op) and (operand.kind == kind or {operand.kind, kind} == {"and"})
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


def _pattern(pattern: Pattern, mode: str) -> Pattern:
    plain = _WORD.fullmatch(pattern.value) and pattern.value.lower() not in ("and", "or", "not")
    if mode == "keyword" and pattern.kind == "quoted" and plain:
        return Pattern(pattern.value, "word", pattern.negated)
    if mode in ("keyword", "standard") and pattern.kind == "regex" and re.fullmatch(r"\w+", pattern.value):
        return Pattern(pattern.value, "word", pattern.negated)
    return Pattern(pattern.value, pattern.kind, pattern.negated)


def _param(param: Param, mode: str, today: date | None) -> tuple[Node, ...]:
    field, value, negated = param.field, param.value, param.negated
    if field == "patterntype":
        return ()
    if field == "content":
        kind = "word" if mode == "regexp" and not param.quoted else "quoted"
        return (_pattern(Pattern(value, kind, negated), mode),)
    if field == "repohasfile":
        return (Param("repo", "", negated, predicate="has.path", args=value),)
    if field == "repohascommitafter":
        return (Param("repo", "", negated, predicate="has.commit.after", args=_date(value, today)),)
    if param.predicate:
        return (_predicate(param, today),)
    if field == "repo":
        repo = Param("repo", _repo_regex(value), negated)
        return (repo, Param("rev", param.rev)) if param.rev else (repo,)  # "x@" = default branch
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


def _repo_regex(value: str) -> str:
    """``^github\\.com/Org/App$`` -> ``org/app``: anchors, host and dot escapes dropped."""
    value = value.lower().removeprefix("^").removesuffix("$")
    value = re.sub(r"^github\\?\.com/", "", value)
    return value.replace("\\.", ".")


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


def _render(node: Node | None, nested: bool = False) -> str:
    if node is None:
        return ""
    if isinstance(node, Param):
        return f"{'-' if node.negated else ''}{node.field}:{_render_value(node)}"
    if isinstance(node, Pattern):
        text = {"word": node.value, "regex": f"/{node.value}/"}.get(node.kind) or _quote(node.value)
        return f"NOT {text}" if node.negated else text
    if node.kind == "or":
        text = " OR ".join(_render(o, nested=True) for o in node.operands)
        return f"({text})" if nested else text
    params = [_render(o) for o in node.operands if isinstance(o, Param)]
    rest = [o for o in node.operands if not isinstance(o, Param)]
    if len(rest) == 1:
        pattern = _render(rest[0], nested=bool(params) and isinstance(rest[0], Op) and rest[0].kind == "or")
    else:
        concat_inside = any(isinstance(o, Op) and o.kind == "concat" for o in rest)
        joiner = " AND " if node.kind == "and" and concat_inside else " "
        pattern = joiner.join(_render(o, nested=True) for o in rest)
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
