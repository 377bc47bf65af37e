"""Word-level tests the scorer is built from (research §c "Helpers" and "Entities").

They reproduce the original heuristics exactly, quirks included (``"memory`` is not the
token ``memory``; substring tests make ``auth setup`` an echo of ``auth``), because
scores must stay comparable with the published ones. Tokens are lowercase whitespace
splits throughout.

>>> sorted(entities("Sarah's presentation on Q4 goals"))
['goals', 'presentation', 'q4', "sarah's"]
>>> echoes("auth setup", "auth"), is_generic("find information about"), repetition("x x x y")
(True, True, 0)
"""
from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

from querytune.experiments.qmd.lexicon import FILLER, GENERIC, KEY_TERM_STOP, STOP, VERB_STOP

_TRIM = ".,!?:;()[]\"'"
_TECH_CHARS = ".+-#@"
_WORD = re.compile(r"\b\w+\b")


def tokens(text: str) -> set[str]:
    return set(text.lower().split())


def key_terms(query: str) -> set[str]:
    return tokens(query) - KEY_TERM_STOP


def keeps_key_term(line: str, query: str) -> bool:
    """A line keeps the query's subject if it shares a whole token with its key terms."""
    terms = key_terms(query)
    return not terms or bool(terms & tokens(line))


def has_entity(line: str, found: set[str]) -> bool:
    """Substring test, so ``c++`` counts inside ``c++20``."""
    lower = line.lower()
    return not found or any(entity in lower for entity in found)


def _base_rule(word: str, first: bool) -> bool | None:
    """Rules 1-4 for one trimmed word: True = base entity; False = a capitalised query
    verb in first position, which stops the later rules; None = no rule applies."""
    lower = word.lower()
    if word.isupper() and len(word) >= 2:
        return True
    if word[0].isupper() and lower not in KEY_TERM_STOP:
        return not first or lower not in VERB_STOP
    if len(word) >= 2 and any(c in _TECH_CHARS for c in word):
        return True
    if len(word) > 1 and word[0].isupper() and any(c.isupper() for c in word[1:]):
        return True
    return None


def entities(query: str) -> set[str]:
    """Named entities of a query, lowercased; a word after a base entity joins it (one level)."""
    found: set[str] = set()
    previous_was_base = False
    for position, word in enumerate(query.split()):
        clean = word.strip(_TRIM)
        rule = _base_rule(clean, position == 0) if clean else False
        if rule or (rule is None and previous_was_base and clean.lower() not in KEY_TERM_STOP):
            found.add(clean.lower())
        previous_was_base = bool(rule)
    return found


def diversity_threshold(query: str) -> int:
    return 3 if len(query.split()) >= 5 else 2


def is_diverse(a: str, b: str, threshold: int) -> bool:
    """Not equal, neither inside the other, and enough tokens unique to one side."""
    a, b = a.lower().strip(), b.lower().strip()
    if a == b or a in b or b in a:
        return False
    return len(tokens(a) ^ tokens(b)) >= threshold


def similar_pairs(items: list[str], threshold: int) -> int:
    return sum(1 for a, b in combinations(items, 2) if not is_diverse(a, b, threshold))


def echoes(line: str, query: str) -> bool:
    """The line is the query, or the query plus fewer than 10 characters."""
    line, query = line.lower().strip(), query.lower().strip()
    return line == query or (query in line and len(line) < len(query) + 10)


def repetition(text: str) -> int:
    """2 points per use beyond the second of any non-stopword longer than 2 characters."""
    counts = Counter(_WORD.findall(text.lower()))
    return sum(2 * (count - 2) for word, count in counts.items()
               if count >= 3 and len(word) > 2 and word not in STOP)


def is_generic(line: str) -> bool:
    """Fewer than 3 characters remain once a generic phrase's words are removed."""
    lower = line.lower().strip()
    for phrase in GENERIC:
        words = phrase.split()
        if phrase in lower or lower.startswith(words[0]):
            rest = lower
            for word in words:
                rest = rest.replace(word, "", 1).strip()
            if len(rest) < 3:
                return True
    return False


def has_filler(line: str, query: str) -> bool:
    query_tokens = tokens(query)
    return any(word in FILLER and word not in query_tokens for word in line.lower().split())
