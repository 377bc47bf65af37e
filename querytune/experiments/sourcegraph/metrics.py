"""Per-example metrics and the GRPO reward for one completion against the gold query.

``score`` is the headline: 1.0 on semantic match (equal canonical forms), else 0.
Aggregation note: ``candidate_repo_used`` is NaN for examples whose gold uses no
candidate repository; averages must skip NaN (``numpy.nanmean``), so the rate is
over the examples where using a candidate was the right call.
"""
from __future__ import annotations

import math
import re
from datetime import date
from functools import lru_cache
from typing import Any

from querytune.experiments.base import GoldError, ParseError
from querytune.experiments.sourcegraph.artifacts import escape_artifacts, hallucinated_fields, repo_filter_tokens
from querytune.experiments.sourcegraph.canonical import Canonical, canonicalize
from querytune.experiments.sourcegraph.nodes import Query
from querytune.experiments.sourcegraph.validate import check

#: bump when a score can change for the same input (and note why in the task README)
SCORER_VERSION = 2

#: metric -> higher is better
METRICS: dict[str, bool] = {
    "score": True,
    "syntax_valid": True,
    "semantic_match": True,
    "filter_f1": True,
    "pattern_match": True,
    "candidate_repo_used": True,
    "hallucinated_filter": False,
    "unnecessary_repo": False,
    "escape_artifact": False,
}

# reward shaping for valid but non-matching queries (a match is always 1.0)
REWARD_BASE = 0.1
REWARD_FILTER_F1 = 0.45
REWARD_PATTERN = 0.35
PENALTY_UNNECESSARY_REPO = 0.3
REWARD_MISS_CAP = 0.9


def score(example: dict[str, Any], completion: str) -> dict[str, float]:
    """Metrics for ``completion`` against ``example["query"]``.

    >>> ex = {"query": "type:commit author:erik after:\\"1 week ago\\"", "date": "2026-11-25"}
    >>> m = score(ex, "type:commit since:2026-11-18 author:erik")
    >>> m["score"], m["syntax_valid"], m["unnecessary_repo"]
    (1.0, 1.0, 0.0)
    """
    today, request = _today(example), example.get("request")
    candidates = tuple(example.get("candidate_repos") or ())
    try:
        gold_query = check(example["query"], request)
        gold = _canonical(example["query"], today, candidates)
    except ParseError as error:
        raise GoldError(f"gold query {example['query']!r} does not validate ({error.reason}: {error}); "
                        "fix the example, it cannot be scored") from error
    try:
        output = check(completion, request)
    except ParseError:
        output = None
    mine = _canonical(completion, today, candidates) if output is not None else None
    matched = mine is not None and mine.text == gold.text
    output_repos = _repo_regexes(output) if output is not None else repo_filter_tokens(completion)
    return {
        "score": float(matched),
        "syntax_valid": float(output is not None),
        "semantic_match": float(matched),
        "filter_f1": _f1(mine.filters, gold.filters) if mine is not None else 0.0,
        "pattern_match": float(mine is not None and mine.patterns == gold.patterns),
        "hallucinated_filter": float(bool(hallucinated_fields(completion, request))),
        "unnecessary_repo": float(bool(output_repos) and not _repo_regexes(gold_query)),
        "candidate_repo_used": _candidate_used(example, _repo_regexes(gold_query), output_repos),
        "escape_artifact": float(bool(escape_artifacts(completion))),
    }


def reward_from_metrics(metrics: dict[str, float]) -> float:
    """0 if unparseable (invented filters and escape artifacts never parse), 1 on a match,
    else partial credit from filters and patterns minus a penalty for a needless repo filter.

    >>> reward_from_metrics({"syntax_valid": 1.0, "semantic_match": 0.0, "filter_f1": 1.0,
    ...                      "pattern_match": 0.0, "unnecessary_repo": 0.0})
    0.55
    """
    if not metrics["syntax_valid"]:
        return 0.0
    if metrics["semantic_match"]:
        return 1.0
    partial = (REWARD_BASE + REWARD_FILTER_F1 * metrics["filter_f1"] + REWARD_PATTERN * metrics["pattern_match"]
               - PENALTY_UNNECESSARY_REPO * metrics["unnecessary_repo"])
    return round(min(REWARD_MISS_CAP, max(0.0, partial)), 6)


def reward(prompts: list, completions: list, **columns: Any) -> list[float]:
    """TRL reward function: ``columns`` are the dataset's example fields as lists.

    >>> reward([None, None], ["lang:python async:yes", "l:Python async"],
    ...        query=["lang:python async", "lang:python async"], date=["2026-11-25"] * 2)
    [0.0, 1.0]
    """
    rewards = []
    for i, completion in enumerate(completions):
        example = {key: values[i] for key, values in columns.items()}
        rewards.append(reward_from_metrics(score(example, completion_text(completion))))
    return rewards


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """The text of a completion given as a string or as chat messages (last assistant turn)."""
    if isinstance(completion, str):
        return completion
    assistant = [m["content"] for m in completion if m.get("role") == "assistant"]
    return assistant[-1] if assistant else (completion[-1]["content"] if completion else "")


# ---------------------------------------------------------------- helpers


def _today(example: dict[str, Any]) -> date | None:
    value = example.get("date")
    return date.fromisoformat(value) if value else None


@lru_cache(maxsize=65536)
def _canonical(text: str, today: date | None, candidates: tuple[str, ...] = ()) -> Canonical:
    return canonicalize(text, today, candidates)


def _f1(predicted: frozenset, gold: frozenset) -> float:
    if not predicted and not gold:
        return 1.0
    hits = len(predicted & gold)
    if not hits:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def _repo_regexes(query: Query) -> list[str]:
    """Name regexes of the repo filters that select repositories (not negated, not predicates)."""
    return [p.value for p in query.params() if p.field == "repo" and not p.negated and not p.predicate
            and p.value]


def _candidate_used(example: dict[str, Any], gold_repos: list[str], output_repos: list[str]) -> float:
    """1/0 whether the output picks a candidate repo the gold picks; NaN if the gold picks none."""
    candidates = [_full_name(c) for c in example.get("candidate_repos") or []]
    wanted = [c for c in candidates if any(_matches(r, c) for r in gold_repos)]
    if not wanted:
        return math.nan
    return float(any(_matches(r, c) for r in output_repos for c in wanted))


def _full_name(repo: str) -> str:
    first = repo.split("/", 1)[0]
    return repo if "." in first else f"github.com/{repo}"


def _matches(regex: str, repo: str) -> bool:
    try:
        return re.search(regex, repo, re.IGNORECASE) is not None
    except re.error:
        return regex.lower() in repo.lower()
