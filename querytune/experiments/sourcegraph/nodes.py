"""The parsed form of a query: parameters, patterns and boolean operators.

Nodes are frozen dataclasses so that canonical forms can hash and compare them;
positions are character offsets into the original text, for error messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from querytune.experiments.base import ParseError

#: expanding OR over parameters is exponential; past this many branches we refuse
MAX_BASIC_QUERIES = 256


@dataclass(frozen=True)
class Param:
    """``[-]field:value``; ``field`` is canonical (aliases folded) or, when unknown, as written."""

    field: str
    value: str  # unquoted and unescaped; "" when missing
    negated: bool = False
    quoted: bool = False
    predicate: str | None = None  # "has.file" for repo:has.file(...), lowercased as written
    args: str | None = None  # the predicate's argument text
    rev: str | None = None  # revisions after "@" in repo:X@rev ("" = default branch)
    position: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False)  # the token as written


@dataclass(frozen=True)
class Pattern:
    """A search term: ``kind`` is ``word`` (bare), ``quoted`` ("a b") or ``regex`` (/re/).

    ``field_name`` is set for a word shaped like ``name:value`` whose name is no
    Sourcegraph field (``nolint:errcheck``, ``async:yes``): Sourcegraph searches it as
    text, and validate.py decides whether the request asked for that text.
    """

    value: str
    kind: str = "word"
    negated: bool = False
    field_name: str | None = field(default=None, compare=False)
    position: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class Op:
    """``and``/``or`` from keywords; ``concat`` from juxtaposition (AND in keyword mode)."""

    kind: str
    operands: tuple["Node", ...]


Node = Param | Pattern | Op


@dataclass(frozen=True)
class Query:
    """A parsed query; ``hoisted`` says whether leading/trailing params scoped an OR."""

    text: str
    root: Node | None
    hoisted: bool = False

    def params(self) -> list[Param]:
        return [node for node in walk(self.root) if isinstance(node, Param)]

    def patterns(self) -> list[Pattern]:
        return [node for node in walk(self.root) if isinstance(node, Pattern)]

    def pattern_type(self) -> str:
        """The query's pattern type (``regex`` folded into ``regexp``), ``keyword`` by default."""
        values = [p.value.lower() for p in self.params() if p.field == "patterntype"]
        kind = values[0] if values else "keyword"
        return "regexp" if kind == "regex" else kind

    def basic_queries(self) -> list[tuple[Param, ...]]:
        """The parameter sets of the expanded basic queries (params distributed over OR)."""
        return basic_queries(self.root) if self.root is not None else [()]


def walk(node: Node | None):
    """Every node of a tree, depth first."""
    if node is None:
        return
    yield node
    if isinstance(node, Op):
        for operand in node.operands:
            yield from walk(operand)


def basic_queries(node: Node) -> list[tuple[Param, ...]]:
    if isinstance(node, Param):
        return [(node,)]
    if isinstance(node, Pattern):
        return [()]
    if node.kind == "or":
        branches = [branch for operand in node.operands for branch in basic_queries(operand)]
    else:
        parts = [basic_queries(operand) for operand in node.operands]
        branches = [tuple(p for part in combo for p in part) for combo in product(*parts)]
    unique = list(dict.fromkeys(branches))
    if len(unique) > MAX_BASIC_QUERIES:
        raise ParseError(f"query expands to more than {MAX_BASIC_QUERIES} basic queries: "
                         "group the filters instead of OR-ing them", position=0, reason="too_complex")
    return unique
