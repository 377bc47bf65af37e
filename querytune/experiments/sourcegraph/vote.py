"""Best-of-N for sourcegraph without gold: a majority vote over canonical forms.

Samples that parse are grouped by canonical text (``canonical.py``: two queries are the
same search iff their canonical texts are equal); the biggest group wins, ties go to the
group seen first, and the answer is that group's first sample. With no parseable
sample the first one is returned, so the pick is never worse-formed than greedy's slot.

>>> vote(["lang:go foo", "l:Golang foo", "repo:x foo"])
0
>>> vote(["not (valid", "repo:x foo", "r:x foo"])
1
"""
from __future__ import annotations

from datetime import date

from querytune.experiments.base import ParseError
from querytune.experiments.sourcegraph.canonical import canonicalize
from querytune.experiments.sourcegraph.validate import check


def canonical_text(completion: str, today: date | None = None) -> str | None:
    """The canonical text of a valid query, None for one that does not validate."""
    try:
        return canonicalize(check(completion), today).text
    except (ParseError, ValueError):
        return None


def vote(completions: list[str], today: date | None = None) -> int:
    """Index of the first sample of the most common canonical form (0 if none parses)."""
    groups: dict[str, list[int]] = {}
    for index, completion in enumerate(completions):
        text = canonical_text(completion, today)
        if text is not None:
            groups.setdefault(text, []).append(index)
    if not groups:
        return 0
    return max(groups.values(), key=len)[0]  # max keeps the first of equal sizes
