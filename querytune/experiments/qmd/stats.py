"""What a QMD dataset holds, for ``querytune data build qmd``: shapes, categories,
lengths and how the scorer rates the targets (the ceiling SFT can imitate).

>>> shape([["hyde", "h"], ["lex", "a"], ["lex", "b"], ["vec", "c"]])
'hyde+2lex+vec'
"""
from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Iterable

from querytune.experiments.qmd.parse import KINDS, only_mode
from querytune.experiments.qmd.prompt import target
from querytune.experiments.qmd.score import RATINGS, rating

HYDE_IDEAL = (50, 200)  # the scorer's full-points hyde length, in characters


def shape(output: list) -> str:
    """Line counts per type in canonical order, e.g. ``hyde+3lex+2vec``."""
    counts = Counter(kind for kind, _ in output)
    return "+".join(f"{counts[kind] if counts[kind] > 1 else ''}{kind}" for kind in KINDS if counts[kind])


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "min": min(values), "median": statistics.median(values),
            "mean": round(statistics.fmean(values), 2), "max": max(values)}


def score_distribution(scores: list[float]) -> dict[str, Any]:
    """Summary of target percentages plus the count per rating label."""
    ratings = Counter(rating(score) for score in scores)
    return {**summary(scores), "ratings": {label: ratings[label] for _, label in RATINGS}}


def stats(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts per split, output shape, category and mode; lengths; target-score distribution."""
    rows = list(rows)
    hyde = [len(text) for row in rows for kind, text in row["output"] if kind == "hyde"]
    return {
        "rows": len(rows),
        "splits": dict(Counter(row["split"] for row in rows if "split" in row)),
        "shapes": dict(Counter(shape(row["output"]) for row in rows).most_common()),
        "categories": dict(Counter(row.get("category") or "(none)" for row in rows).most_common()),
        "only_mode": dict(Counter(only_mode(row["query"])[0] or "normal" for row in rows)),
        "query_words": summary([len(row["query"].split()) for row in rows]),
        "target_chars": summary([len(target(row)) for row in rows]),
        "hyde_chars": summary(hyde),
        "hyde_in_ideal_range": round(sum(HYDE_IDEAL[0] <= n <= HYDE_IDEAL[1] for n in hyde) / max(1, len(hyde)), 3),
        "target_score": score_distribution([row["target_score"] for row in rows]),
    }
