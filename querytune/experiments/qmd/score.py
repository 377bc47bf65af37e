"""The original QMD scorer, rule for rule (research §c), with its full breakdown.

Scores must match the published ones, so every rule is kept as the original has it,
including its quirks (an empty answer scores 50%; a lex line echoing the query caps
the percentage at 50). ``Breakdown.reward`` is the GRPO variant (§d): total/max, with no
echo cap.

>>> b = score_expansion("auth", "lex: auth setup\\nvec: how to configure authentication")
>>> b.total, b.max, b.pct, b.rating, round(b.reward, 3)
(100, 120, 50.0, 'Acceptable', 0.833)
"""
from __future__ import annotations

from dataclasses import dataclass

from querytune.experiments.base import ParseError
from querytune.experiments.qmd import heuristics as h
from querytune.experiments.qmd.parse import KINDS, check, normalize, only_mode, read_lines

THINK_BONUS = 20
MAX_WITH_HYDE, MAX_WITHOUT_HYDE, MAX_FAILED = 140, 120, 100
ECHO_CAP = 50.0
#: (lowest percentage, label), best first.
RATINGS = ((80.0, "Excellent"), (60.0, "Good"), (40.0, "Acceptable"), (20.0, "Poor"), (0.0, "Failed"))


@dataclass(frozen=True)
class Breakdown:
    """Points per component as the original reports them: ``entity`` and ``total``
    floored at 0 (``entity_raw`` keeps the signed value the total was summed from),
    ``pct`` rounded to 0.1 after the echo cap, ``rating`` from the unrounded pct."""

    format: int
    diversity: int
    hyde: int
    quality: int
    entity: int
    think: int
    total: int
    max: int
    pct: float
    rating: str
    lex_echoes: int = 0
    only: str | None = None
    failure: str | None = None  # reason code of a hard fail, else None
    entity_raw: int = 0

    @property
    def reward(self) -> float:
        """GRPO reward: clamp(total / max, 0, 1), no echo cap."""
        return min(1.0, max(0.0, self.total / self.max))


def rating(pct: float) -> str:
    return next(label for floor, label in RATINGS if pct >= floor)


def _failed(reason: str, only: str | None) -> Breakdown:
    return Breakdown(0, 0, 0, 0, 0, 0, total=0, max=MAX_FAILED, pct=0.0, rating="Failed", only=only, failure=reason)


def _finish(parts: dict[str, int], maximum: int, lex_echoes: int = 0, only: str | None = None) -> Breakdown:
    total = sum(parts.values())
    pct = min(100.0, max(0.0, 100 * total / maximum))
    if lex_echoes:
        pct = min(pct, ECHO_CAP)
    return Breakdown(**{**parts, "entity": max(0, parts["entity"])}, total=max(0, total), max=maximum,
                     pct=round(pct, 1), rating=rating(pct), lex_echoes=lex_echoes, only=only,
                     entity_raw=parts["entity"])


def _diversity(query: str, lex: list[str], vec: list[str]) -> int:
    threshold = h.diversity_threshold(query)
    points = (10 if lex and vec else 0) + (5 if len(lex) + len(vec) >= 2 else 0)
    points += max(0, 5 - 2 * h.similar_pairs(lex, threshold)) + max(0, 5 - 2 * h.similar_pairs(vec, threshold))
    lex_echoes = sum(h.echoes(line, query) for line in lex)
    vec_echoes = sum(h.echoes(line, query) for line in vec)
    return points + max(-10, 5 - 10 * lex_echoes - 3 * vec_echoes)


def _hyde(text: str) -> int:
    length = 5 if 50 <= len(text) <= 200 else 2 if len(text) < 50 else 0
    return 5 + length + (5 if "\n" not in text else 0) + max(0, 5 - h.repetition(text))


def _natural(line: str) -> bool:
    return " " in line and len(line) > 15


def _mean_length(lines: list[str]) -> float:
    return sum(map(len, lines)) / len(lines)


def _quality(query: str, lex: list[str], vec: list[str]) -> int:
    points = 5
    if lex and vec and _mean_length(lex) <= _mean_length(vec):
        points += 5
    if vec:
        points += 5 if all(map(_natural, vec)) else 2
    if lex:
        keeping = sum(h.keeps_key_term(line, query) for line in lex)
        points += 5 if keeping == len(lex) else 2 if keeping else 0
        points -= 3 * sum(h.has_filler(line, query) for line in lex)
        if len(query.split()) >= 2 and '"' in " ".join(lex):
            points += 3
    return points


def _entity(found: set[str], lex: list[str], vec: list[str]) -> int:
    if not found:
        return 10
    if not lex:
        return 0
    with_entity = sum(h.has_entity(line, found) for line in lex)
    points = 15 if with_entity == len(lex) else 5 if with_entity else -30
    joined = " ".join(lex + vec).lower()
    points -= 20 * sum(entity not in joined for entity in found)
    points -= 15 * sum(map(h.is_generic, lex))
    if any(h.has_entity(line, found) for line in vec):
        points += 5
    return points


def _score_normal(query: str, items: dict[str, list[str]], think: int) -> Breakdown:
    lex, vec, hyde = items["lex"], items["vec"], items["hyde"]
    parts = {
        "format": 10 + (10 if lex else 0) + (10 if vec else 0),
        "diversity": _diversity(query, lex, vec),
        "hyde": _hyde(hyde[0]) if hyde else 0,
        "quality": _quality(query, lex, vec),
        "entity": _entity(h.entities(query), lex, vec),
        "think": think,
    }
    lex_echoes = sum(h.echoes(line, query) for line in lex)
    return _finish(parts, MAX_WITH_HYDE if hyde else MAX_WITHOUT_HYDE, lex_echoes)


def _only_quality(kind: str, base: str, wanted: list[str]) -> int:
    if kind == "lex":
        points = 10 + (5 if all(h.keeps_key_term(line, base) for line in wanted) else 0)
        points += 5 if not any(map(h.is_generic, wanted)) else 0
        return points - 3 * sum(h.has_filler(line, base) for line in wanted)
    if kind == "vec":
        return 10 + (10 if all(map(_natural, wanted)) else 5)
    length = len(wanted[0])
    return 10 + (10 if 50 <= length <= 200 else 5 if 30 <= length <= 300 else 0)


def _only_entity(found: set[str], wanted: list[str]) -> int:
    if not found:
        return 10
    with_entity = sum(h.has_entity(item, found) for item in wanted)
    return 20 if with_entity == len(wanted) else 15 if with_entity else 0


def _score_only(kind: str, base: str, items: dict[str, list[str]], think: int) -> Breakdown:
    wanted = items[kind]
    if not wanted:
        return _failed("missing_only_type", kind)
    others = sum(len(items[other]) for other in KINDS if other != kind)
    diversity = 15
    if len(wanted) >= 2:
        diversity += max(0, 15 - 5 * h.similar_pairs(wanted, h.diversity_threshold(base)))
    diversity = max(0, diversity - 5 * sum(h.echoes(item, base) for item in wanted))
    parts = {
        "format": max(0, 30 - 10 * others),
        "diversity": diversity,
        "hyde": 0,
        "quality": _only_quality(kind, base, wanted),
        "entity": _only_entity(h.entities(base), wanted),
        "think": think,
    }
    return _finish(parts, MAX_WITHOUT_HYDE, only=kind)


def score_expansion(query: str, completion: str) -> Breakdown:
    """Score one completion for one query (``query`` may end in ``/only:lex|vec|hyde``)."""
    text, used_thinking = normalize(completion)
    kind, base = only_mode(query)
    try:
        check(text)
    except ParseError as err:
        return _failed(err.reason, kind)
    items = read_lines(text)
    think = 0 if used_thinking else THINK_BONUS
    return _score_only(kind, base, items, think) if kind else _score_normal(query, items, think)
