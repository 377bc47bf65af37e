"""Parse query text into :class:`nodes.Query` with the Lark grammar in ``query.lark``.

Only syntax is checked here (tokens, quoting and escapes, parentheses, predicates);
:mod:`validate` applies the field rules. The parser is LALR and built once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from querytune.experiments.base import ParseError
from querytune.experiments.sourcegraph.nodes import Node, Op, Param, Pattern, Query

GRAMMAR_PATH = Path(__file__).with_name("query.lark")

#: alias (lowercase) -> canonical field name, for every field the grammar knows [spec 3]
FIELD_ALIASES: dict[str, str] = {
    "r": "repo", "f": "file", "path": "file", "l": "lang", "language": "lang",
    "m": "message", "msg": "message", "since": "after", "until": "before", "revision": "rev",
}
FIELDS: frozenset[str] = frozenset({
    "repo", "file", "content", "lang", "type", "case", "fork", "archived", "visibility", "select",
    "count", "timeout", "patterntype", "rev", "context", "author", "committer", "message",
    "before", "after", "repohasfile", "repohascommitafter", "index", "rule",
})

#: predicate names (lowercase) each field accepts [spec 6]
PREDICATES: dict[str, frozenset[str]] = {
    "repo": frozenset({"has.file", "contains.file", "has.path", "contains.path", "has.content",
                       "contains.content", "has.commit.after", "contains.commit.after",
                       "has.description", "has.meta", "has.topic", "has.tag", "has", "has.key",
                       "contains"}),
    "file": frozenset({"has.content", "contains.content", "has.owner", "has.contributor"}),
    "rev": frozenset({"at.time"}),
}

RESERVED_WORDS = frozenset({"and", "or", "not"})
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The LALR parser, built once per process (building costs ~50 ms, parsing ~0.1 ms)."""
    return Lark(GRAMMAR_PATH.read_text(), parser="lalr", lexer="contextual", start=["start", "literal"])


def canonical_field(name: str) -> str:
    """``R`` -> ``repo``; unknown names come back lowercased."""
    lowered = name.lower()
    return FIELD_ALIASES.get(lowered, lowered)


def parse_query(text: str) -> Query:
    """Parse ``text``; raises :class:`ParseError` for syntax errors (not field rules).

    >>> q = parse_query("r:foo lang:go (a OR b)")
    >>> [p.field for p in q.params()], [p.value for p in q.patterns()]
    (['repo', 'lang'], ['a', 'b'])
    """
    body = text.strip()
    offset = len(text) - len(text.lstrip())
    if not body:
        raise ParseError("empty query: write at least one filter or pattern", position=0, reason="empty")
    if "\n" in body or "\r" in body:
        line_end = offset + min(i for i in (body.find("\n"), body.find("\r")) if i >= 0)
        raise ParseError("query spans several lines: a query is one line, with nothing after it",
                         position=line_end, reason="multiline")
    try:
        tree = lark_parser().parse(body, start="start")
    except UnexpectedInput as error:
        tree = _literal_parens(body)
        if tree is None:
            raise _syntax_error(body, error, offset) from None
    try:
        root = _Build(offset).transform(tree)
    except VisitError as error:
        raise error.orig_exc from None
    hoisted = _hoist(root)
    return Query(text=text, root=_flatten(hoisted or root), hoisted=hoisted is not None)


def _literal_parens(body: str):
    """The tree of ``body`` read with parentheses as text, or None [spec 8].

    Sourcegraph re-reads a query with an unclosed "(" (``fmt.Println(``, ``(foo OR bar``)
    that way; a stray ")" stays an error.
    """
    depth, stray = _paren_depths(body)
    if not depth or stray:
        return None
    try:
        return lark_parser().parse(body, start="literal")
    except UnexpectedInput:
        return None


# ---------------------------------------------------------------- tree -> nodes


@dataclass(frozen=True)
class _Group:
    """A parenthesised expression; kept until hoisting has looked at the top level."""

    node: Node | "_Group"


class _Build(Transformer):
    def __init__(self, offset: int):
        super().__init__()
        self.offset = offset

    def start(self, children):
        return children[0] if children else None

    literal = start

    def or_expr(self, children):
        operands = tuple(c for c in children if not isinstance(c, Token))
        return operands[0] if len(operands) == 1 else Op("or", operands)

    def and_expr(self, children):
        groups: list[list] = [[]]
        for child in children:
            if isinstance(child, Token):
                if child.type == "AND":
                    groups.append([])
                continue
            groups[-1].append(child)
        operands = tuple(g[0] if len(g) == 1 else Op("concat", tuple(g)) for g in groups)
        return operands[0] if len(operands) == 1 else Op("and", operands)

    def group(self, children):
        return _Group(children[1])

    def negation(self, children):
        term = children[1]
        if term.negated:
            raise ParseError(f"NOT before an already negated filter {term.raw!r}: write one of them",
                             position=term.position, reason="double_negation")
        return replace(term, negated=True)

    def pattern(self, children):
        token = children[0]
        position = token.start_pos + self.offset
        if token.type == "QUOTED":
            return Pattern(_unquote(token, position), "quoted", position=position, raw=str(token))
        if token.type == "REGEX":
            return Pattern(token[1:-1], "regex", position=position, raw=str(token))
        if token.lower() in RESERVED_WORDS:
            raise ParseError(f"operator {str(token)!r} has nothing on one side: quote it to search "
                             f"for the word (\"{token}\")", position=position, reason="dangling_operator")
        return Pattern(str(token), "word", position=position, raw=str(token))

    def unknown_param(self, children):
        """``name:value`` with no such field: Sourcegraph searches the token as text [spec 3]."""
        token = children[0]
        raw = str(token) + (children[1]["raw"] if len(children) > 1 else "")
        return Pattern(raw, "word", position=token.start_pos + self.offset, raw=raw,
                       field_name=token.lstrip("-")[:-1].lower())

    def param(self, children) -> Param:
        token = children[0]
        negated = token.startswith("-")
        name = token.lstrip("-")[:-1]
        value: dict = children[1] if len(children) > 1 else {"value": ""}
        field = canonical_field(name)
        if value.get("predicate") and value["predicate"] not in PREDICATES.get(field, ()):
            value = self._not_a_predicate(field, value, token)
        value.pop("raw_predicate", None)
        raw = str(token) + value.pop("raw", "")
        return Param(field, negated=negated, position=token.start_pos + self.offset,
                     raw=raw, **value)

    def _not_a_predicate(self, field: str, value: dict, token: Token) -> dict:
        """``repo:foo(bar)`` is the regex ``foo(bar)`` unless the parens hold spaces [spec 6]."""
        text = f"{value['predicate']}({value['args']})"
        if re.search(r"\s", value["args"]):
            known = ", ".join(sorted(PREDICATES.get(field, ()))) or "none"
            raise ParseError(f"{field}:{text} is not a predicate of {field} (known: {known}); "
                             "an unquoted value cannot hold spaces",
                             position=token.start_pos + self.offset, reason="unknown_predicate")
        return {"value": value["raw_predicate"], "raw": value["raw_predicate"]}

    def repo_value(self, children):
        value = self._value(children[0]) if isinstance(children[0], Token) else {"value": "", "raw": ""}
        revision = next((c for c in children if isinstance(c, dict)), None)
        if revision is not None:
            value["rev"] = revision["rev"]
            value["raw"] += "@" + revision["rev"]
        return value

    def revision(self, children):
        return {"rev": str(children[1]) if len(children) > 1 else ""}

    def file_value(self, children):
        return self._value(children[0])

    rev_value = value = file_value

    def _value(self, token: Token) -> dict:
        position = token.start_pos + self.offset
        if token.type == "QUOTED":
            return {"value": _unquote(token, position), "quoted": True, "raw": str(token)}
        if token.type == "PREDICATE":
            name, _, args = str(token).partition("(")
            return {"value": "", "predicate": name.lower(), "args": args[:-1],
                    "raw": str(token), "raw_predicate": str(token)}
        return {"value": str(token), "raw": str(token)}


def _unquote(token: Token, position: int) -> str:
    """The text between quotes with ``\\"`` ``\\\\`` ``\\n``... resolved; other escapes are errors [spec 8]."""
    out, body, i = [], str(token)[1:-1], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped not in _ESCAPES:
                raise ParseError(f"unrecognized escape \\{escaped} in {token}: inside quotes write "
                                 f"\\\\{escaped} for a regex escape", position=position + i + 1,
                                 reason="bad_escape")
            out.append(_ESCAPES[escaped])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- hoisting and flattening


def _hoist(root) -> Op | None:
    """``repo:x a or b file:y`` -> ``repo:x file:y (a or b)`` [spec 1]; None when it does not apply."""
    if not isinstance(root, Op) or root.kind not in ("or", "and"):
        return None
    operands = list(root.operands)
    head, head_patterns = _split_params(operands[0], leading=True)
    tail, tail_patterns = _split_params(operands[-1], leading=False)
    middle = operands[1:-1]
    if head_patterns is None or tail_patterns is None or not (head or tail):
        return None
    if any(_has_params(node) for node in middle):
        return None
    patterns = (head_patterns, *middle, tail_patterns)
    return Op("and", (*head, *tail, Op(root.kind, patterns)))


def _split_params(node, leading: bool):
    """(params at the start/end of a juxtaposition, the pure-pattern rest) or (_, None)."""
    items = list(node.operands) if isinstance(node, Op) and node.kind == "concat" else [node]
    ordered = items if leading else items[::-1]
    count = next((i for i, item in enumerate(ordered) if not isinstance(item, Param)), len(ordered))
    params, rest = ordered[:count], ordered[count:]
    if not rest or any(_has_params(item) for item in rest):
        return params, None
    if not leading:
        params, rest = params[::-1], rest[::-1]
    return params, rest[0] if len(rest) == 1 else Op("concat", tuple(rest))


def _has_params(node) -> bool:
    if isinstance(node, _Group):
        return _has_params(node.node)
    if isinstance(node, Op):
        return any(_has_params(operand) for operand in node.operands)
    return isinstance(node, Param)


def _flatten(node):
    """Drop group markers and merge ``and(and(a, b), c)`` into ``and(a, b, c)``."""
    if isinstance(node, _Group):
        return _flatten(node.node)
    if not isinstance(node, Op):
        return node
    operands: list = []
    for operand in (_flatten(o) for o in node.operands):
        same = isinstance(operand, Op) and operand.kind == node.kind
        operands.extend(operand.operands if same else [operand])
    return Op(node.kind, tuple(operands))


# ---------------------------------------------------------------- syntax errors


def _syntax_error(body: str, error: UnexpectedInput, offset: int) -> ParseError:
    """Turn a Lark error into a ParseError whose reason says what to fix."""
    position = _error_position(body, error)
    before, char = body[:position].rstrip(), body[position:position + 1]
    where = f" at {position + offset}"
    if _paren_depths(body) != (0, 0):
        return ParseError(f"unbalanced parentheses{where}: close every '(' or quote the text",
                          position=position + offset, reason="unbalanced")
    if char and char in "\"'" and not _QUOTED.match(body, position):
        return ParseError(f"unterminated quote{where}: close the {char} or drop it",
                          position=position + offset, reason="unterminated_quote")
    if re.search(r"(?i)(^|\s)not$", before) and char == "(":
        return ParseError(f"NOT only goes before a single filter or pattern{where}, not a group",
                          position=position + offset, reason="bad_not")
    if re.search(r"(?i)(^|[\s)])(and|or|not)$", before) or isinstance(error, UnexpectedEOF):
        return ParseError(f"operator with nothing after it{where}", position=position + offset,
                          reason="dangling_operator")
    snippet = body[position:position + 12]
    return ParseError(f"unexpected {snippet!r}{where}: separate terms with spaces and quote values "
                      "with spaces", position=position + offset, reason="syntax")


def _error_position(body: str, error: UnexpectedInput) -> int:
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        return len(body)
    if isinstance(error, UnexpectedToken):
        return error.token.start_pos
    return getattr(error, "pos_in_stream", None) or len(body)


def _paren_depths(body: str) -> tuple[int, int]:
    """(unclosed '(' count, stray ')' count) outside quoted strings."""
    depth = stray = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[()]', body):
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            if depth:
                depth -= 1
            else:
                stray += 1
    return depth, stray
