"""Rewrites of decoding-grammar expressions for the unclosed-paren mode (``literal_query`` in
``constrain.py``): the same expression without ``(``, ``)`` or quotes, or as the parser's paren
count reads it right. A lexeme ``X`` an expression refers to gets its own rewritten copy
(``X_NC``, ``X_LP``), added to the ``out`` dict the caller passes.
"""
from __future__ import annotations

from querytune.experiments import grammars as g
from querytune.experiments.grammars import Chars, Lit, NotChars, Ref


def countable(expr, lexemes: dict, out: dict):
    """``expr`` as the parser's paren count reads it right (a lexeme ``X`` becomes ``X_LP``):
    quotes only around quoted strings, and no ``\\)`` (a stray ``)`` to the count) or escaped
    quote outside them. Terms before an unclosed ``(`` must be this (see ``literal_query``)."""
    quotes = "\"'"
    if isinstance(expr, Ref):
        name = expr.name + "_LP"
        if name not in out:
            out[name] = Lit("")
            out[name] = countable(lexemes[expr.name], lexemes, out) or g.Alt(())
        return Ref(name)
    if isinstance(expr, g.Seq):
        first, last = expr.items[0], expr.items[-1]
        if isinstance(first, Lit) and first.text in quotes and first == last and len(expr.items) > 1:
            return expr  # a quoted string: the count skips it
        if isinstance(first, Lit) and set(first.text) == {"\\"} and len(expr.items) == 2 \
                and isinstance(expr.items[1], NotChars):
            return g.Seq((first, NotChars(expr.items[1].chars + ")" + quotes)))
    if isinstance(expr, (g.Seq, g.Alt, g.Rep)):
        return _pruned(expr, lambda child: countable(child, lexemes, out))
    return unquoted(expr)


def unquoted(expr):
    """``expr`` with no ``"`` or ``'`` (it holds no lexeme references)."""
    return _drop(_drop(expr, '"', lambda ref: ref), "'", lambda ref: ref)


def without_open(expr):
    """``expr`` with no ``(`` (so no balanced group) anywhere; lexeme references kept."""
    return _drop(expr, "(", lambda ref: ref)


def without_close(expr, lexemes: dict, out: dict):
    """``expr`` with no ``)`` anywhere; a lexeme ``X`` it uses becomes ``X_NC`` (added to ``out``)."""
    def ref(r: Ref) -> Ref:
        name = r.name + "_NC"
        if name not in out:
            out[name] = Lit("")  # placeholder against cycles
            out[name] = without_close(lexemes[r.name], lexemes, out) or g.Alt(())
        return Ref(name)
    return _drop(expr, ")", ref)


def _drop(expr, char: str, ref):
    """``expr`` without the strings that hold ``char``; None where nothing is left."""
    if isinstance(expr, g.Lit):
        return None if char in expr.text else expr
    if isinstance(expr, g.NoCase):
        return None if char in expr.text else expr
    if isinstance(expr, Chars):
        left = expr.chars.replace(char, "")
        return Chars(left) if left else None
    if isinstance(expr, NotChars):
        return expr if char in expr.chars else NotChars(expr.chars + char)
    if isinstance(expr, Ref):
        return ref(expr)
    if isinstance(expr, (g.Seq, g.Alt, g.Rep)):
        return _pruned(expr, lambda child: _drop(child, char, ref))
    raise TypeError(expr)


def _pruned(expr, walk):
    """A Seq, Alt or Rep rebuilt from ``walk`` of its children, where None means "cannot be here":
    a sequence holding such a child is None, an alternative loses it, an optional repeat matches
    nothing. The shared step of the grammar rewrites above."""
    if isinstance(expr, g.Seq):
        items = [walk(i) for i in expr.items]
        return None if any(i is None for i in items) else g.Seq(tuple(items))
    if isinstance(expr, g.Alt):
        options = tuple(o for o in map(walk, expr.options) if o is not None)
        return g.Alt(options) if options else None
    item = walk(expr.item)
    if item is None:
        return Lit("") if expr.lo == 0 else None
    return g.Rep(item, expr.lo, expr.hi)
