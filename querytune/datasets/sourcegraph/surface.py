"""How real requests are typed: a share of generated ones varied in surface form, the gold unchanged.

Hand-written requests are lowercase, unpunctuated and abbreviated, drop articles and carry the odd
typo ("python async funcs in auth svc"); the templates write tidy sentences, and a model trained on
those alone reads the typed ones badly. The layer runs once per row, after the request and its gold
are both written, so it knows which words the gold carries: a word found in the query (regex escapes
undone, ``lang:`` values aside: a language is said through the language table) is never touched, and
the request is lowercased only when the gold has no capital letter to keep.
"""
from __future__ import annotations

import random
import re

from querytune.datasets.sourcegraph import vocab as v

#: variation -> share of requests it is tried on; it changes only those with a word it applies to
SHARES = {"lowercase": 0.3, "abbreviation": 0.45, "filler": 0.15, "typo": 0.08, "punctuation": 0.15}
_WORD = re.compile(r"([A-Za-z]+)([,;.?!]*)")  # an ordinary word and the punctuation after it
_OPERATORS = re.compile(r"(?<![\w\"'])(AND|OR|NOT)(?![\w\"'])")  # the operators, not a quoted "OR"
_LANG_VALUE = re.compile(r"(?<![\w-])-?(lang|l|language):\S+")
_SHOW = {"show", "give", "find", "get"}  # "show me X" -> "show X"


def vary(rng: random.Random, request: str, query: str) -> tuple[str, list[str]]:
    """The request as someone might type it, and the variations that changed it (none for most rows)."""
    kinds = [kind for kind, share in SHARES.items() if rng.random() < share]
    if not kinds:
        return request, []
    carried = _LANG_VALUE.sub("", query.replace("\\s", " ")).replace("\\", "").lower()
    words, changed = request.split(), []
    for kind in kinds:
        varied = _VARIATIONS[kind](rng, words, query, carried)
        if varied != words and varied:
            words, changed = varied, changed + [kind]
    return " ".join(words), changed


def _free(core: str, carried: str) -> bool:
    """Whether a word may change: the gold does not carry it (``service`` in ``payments-service`` counts)."""
    return not re.search(rf"(?<!\w){re.escape(core.lower())}(?!\w)", carried)


def _lowercase(rng, words, query, carried):
    if re.search("[A-Z]", _OPERATORS.sub("", query)) or "case:yes" in query:
        return words  # a pattern, path, identifier or name keeps its spelling
    return [w.lower() for w in words]


def _abbreviate(rng, words, query, carried):
    out = []
    for word in words:
        m = _WORD.fullmatch(word)
        short = m and v.ABBREVIATIONS.get(m.group(1).lower())
        out.append(short + m.group(2) if short and _free(m.group(1), carried) else word)
    return out


def _drop_fillers(rng, words, query, carried):
    out = []
    for i, word in enumerate(words):
        m = _WORD.fullmatch(word)
        filler = m and (m.group(1).lower() in v.FILLERS or m.group(1) == "me" and i and words[i - 1].lower() in _SHOW)
        if filler and _free(m.group(1), carried):
            if out and m.group(2):
                out[-1] += m.group(2)  # "..., please?" keeps its question mark
            continue
        out.append(word)
    return out


def _typo(rng, words, query, carried):
    """Two adjacent letters swapped in one ordinary word (never the first letter: people rarely miss it)."""
    spots = [i for i, w in enumerate(words) if (m := _WORD.fullmatch(w)) and m.group(1).lower() in v.TYPO_WORDS
             and _free(m.group(1), carried)]
    if not spots:
        return words
    i = rng.choice(spots)
    word = words[i]
    at = rng.choice([j for j in range(1, len(_WORD.fullmatch(word).group(1)) - 1) if word[j] != word[j + 1]])
    return words[:i] + [word[:at] + word[at + 1] + word[at] + word[at + 2:]] + words[i + 1:]


def _drop_punctuation(rng, words, query, carried):
    """Commas and sentence marks off the ends of words, where the gold does not hold them."""
    return [w.rstrip(",;.?!") if w[-1] in ",;.?!" and w.rstrip(",;.?!")[-1:].isalnum() and w not in query
            else w for w in words]


_VARIATIONS = {"lowercase": _lowercase, "abbreviation": _abbreviate, "filler": _drop_fillers, "typo": _typo,
               "punctuation": _drop_punctuation}
