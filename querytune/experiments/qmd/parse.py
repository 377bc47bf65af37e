"""The QMD output language: one ``type: text`` line per retrieval query.

``normalize`` and ``check`` are the scorer's own first steps (research §c "Normalize",
"Hard fail"), so a completion parses exactly when the scorer does not hard-fail it, with
one stricter rule: an answer with no line at all is an ``empty`` parse error, although
the scorer gives it 50%.

>>> parse("lex: auth config\\nvec: how do I set up login").value
{'lex': ['auth config'], 'vec': ['how do I set up login'], 'hyde': None}
>>> only_mode("auth /only:LEX")
('lex', 'auth')
"""
from __future__ import annotations

import re

from querytune.experiments.base import Parsed, ParseError

#: Canonical line order, also the order targets are written in.
KINDS = ("hyde", "lex", "vec")
_PREFIXES = tuple(f"{kind}:" for kind in KINDS)
#: Any of these left in the answer means the model ran past its turn.
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "\nassistant\n", "\nuser\n")
CANONICAL_MAX = {"hyde": 1, "lex": 3, "vec": 3}

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_SPECIAL_TOKEN = re.compile(r"<\|[^|<>]*\|>")
_ONLY = re.compile(r"\s+/only:(lex|vec|hyde)\s*$", re.IGNORECASE)

def normalize(completion: str) -> tuple[str, bool]:
    """Drop ``<|im_end|>`` and closed think blocks; say whether a think block was used."""
    text = completion.strip().replace("<|im_end|>", "").strip()
    used_thinking = "<think>" in text and "</think>" in text
    if used_thinking:
        text = _THINK.sub("", text).strip()
    return text, used_thinking


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check(text: str) -> None:
    """The scorer's hard-fail rules on normalized text; positions are its line numbers."""
    for token in CHAT_TOKENS:
        at = text.find(token)
        if at >= 0:
            line = _line_of(text, at + token.startswith("\n"))
            raise ParseError(f"line {line}: chat-template text {token!r} in the answer; the model ran past its "
                             "turn (stop at the end-of-turn token)", position=line, reason="chat_token")
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line and not line.startswith(_PREFIXES):
            if "<think>" in line:
                raise ParseError(f"line {number}: <think> without </think>: {line[:50]!r}; close or drop the "
                                 "think block", position=number, reason="unclosed_think")
            raise ParseError(f"line {number}: {line[:50]!r} does not start with 'lex:', 'vec:' or 'hyde:' "
                             "(case-sensitive)", position=number, reason="bad_line_prefix")


def read_lines(text: str) -> dict[str, list[str]]:
    """Every line's text by type, in order; an empty text still counts as a line."""
    items: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for line in text.split("\n"):
        line = line.strip()
        for kind in KINDS:
            if line.startswith(f"{kind}:"):
                items[kind].append(line[len(kind) + 1:].strip())
    return items


def _warnings(items: dict[str, list[str]], used_thinking: bool) -> list[str]:
    notes = ["a think block was removed (it costs the 20-point think bonus)"] if used_thinking else []
    for kind in KINDS:
        if len(items[kind]) > CANONICAL_MAX[kind]:
            extra = "; only the first is scored" if kind == "hyde" else ""
            notes.append(f"{len(items[kind])} {kind} lines, more than the format's {CANONICAL_MAX[kind]}{extra}")
        if any(not text for text in items[kind]):
            notes.append(f"a {kind} line has no text")
    return notes


def parse(completion: str) -> Parsed:
    """``{lex: [...], vec: [...], hyde: first hyde or None}``; hard-fail rules raise ParseError."""
    text, used_thinking = normalize(completion)
    check(text)
    items = read_lines(text)
    if not any(items.values()):
        raise ParseError("empty answer: expected at least one 'lex:', 'vec:' or 'hyde:' line",
                         position=1, reason="empty")
    hyde = items["hyde"][0] if items["hyde"] else None
    value = {"lex": items["lex"], "vec": items["vec"], "hyde": hyde}
    return Parsed(value=value, warnings=_warnings(items, used_thinking))


def only_mode(query: str) -> tuple[str | None, str]:
    """``("lex", "auth")`` for ``"auth /only:lex"``; ``(None, query)`` for a normal query."""
    match = _ONLY.search(query)
    if not match:
        return None, query
    return match.group(1).lower(), query[:match.start()].strip()


def extract(decoded: str) -> str:
    """The answer in decoded model text: think blocks and stray special tokens removed.

    This mirrors the original evaluation's decoding (skip special tokens, drop
    ``<think>…</think>``). Score the raw completion instead when the think penalty
    must count: extraction hides it.
    """
    return _SPECIAL_TOKEN.sub("", _THINK.sub("", decoded)).strip()
