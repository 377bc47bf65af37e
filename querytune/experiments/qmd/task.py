"""QMD query expansion as a querytune Task (see ``experiments/base.py``).

The headline ``score`` is the original scorer's percentage / 100, echo cap included,
so numbers compare with the published evaluations; ``reward`` is its uncapped GRPO
form. ``score_unseen`` is ``score`` on queries absent from the training files (NaN, so
left out of the mean, on the others) and ``in_training`` marks those others. ``format_ok`` is
the strict parse (an empty answer fails it although it scores 50%). Rating buckets are 0/1 per
example, so their means are the rating shares.
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from querytune.experiments.base import Example, Messages, Parsed, ParseError
from querytune.experiments.qmd import constrain, data, prompt
from querytune.experiments.qmd.parse import extract
from querytune.experiments.qmd.parse import parse as parse_expansion
from querytune.experiments.qmd.reward import reward as expansion_reward
from querytune.experiments.qmd.score import RATINGS, score_expansion
from querytune.experiments.qmd.stats import score_distribution
from querytune.experiments.qmd.stats import stats as dataset_stats

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)
DEV_QUERIES = data.DATA_DIR / "dev_queries.txt"


@lru_cache(maxsize=1)
def _training_queries() -> frozenset[str]:
    return data.training_queries()


class QMDTask:
    name = "qmd"
    #: Bump when a score can change (research/qmd.md §c is version 1); say why in the README.
    scorer_version = 1
    metrics = {
        "score": True, "pct": True, "reward": True, "format_ok": True, "hyde_present": True,
        "lex_echo": False, "score_unseen": True, "in_training": False, "excellent": True, "good": True,
        "acceptable": False, "poor": False, "failed": False,
    }

    def messages(self, example: Example) -> Messages:
        return prompt.messages(example)

    def target(self, example: Example) -> str:
        return prompt.target(example)

    def parse(self, text: str) -> Parsed:
        return parse_expansion(text)

    def extract(self, text: str) -> str:
        return extract(text)

    def score(self, example: Example, completion: str) -> dict[str, float]:
        """Metrics for one completion; only ``example["query"]`` is needed."""
        breakdown = score_expansion(example["query"], completion)
        try:
            parsed = parse_expansion(completion).value
        except ParseError:
            parsed = None
        buckets = {label.lower(): float(breakdown.rating == label) for _, label in RATINGS}
        seen = data.normal_form(example["query"]) in _training_queries()
        return {"score": breakdown.pct / 100, "pct": breakdown.pct, "reward": breakdown.reward,
                "score_unseen": math.nan if seen else breakdown.pct / 100, "in_training": float(seen),
                "format_ok": float(parsed is not None), "hyde_present": float(bool(parsed and parsed["hyde"])),
                "lex_echo": float(breakdown.lex_echoes > 0), **buckets}

    def choose(self, example: Example, completions: list[str]) -> int:
        """Best-of-N without gold: the highest-scoring completion (pct, then the uncapped
        reward), the first of equals."""
        keys = [(b.pct, b.reward) for b in (score_expansion(example["query"], c) for c in completions)]
        return max(range(len(keys)), key=lambda i: (keys[i], -i))

    def reward(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        return expansion_reward(prompts, completions, **columns)

    def generate(self, n: int, seed: int, min_target_score: float | None = None,
                 max_hyde_chars: int | None = None, clean: bool = False) -> "datasets.Dataset":
        """The real training rows (not synthetic), at most ``n``, with a seeded ``split`` column.

        ``min_target_score`` (percent) drops training rows whose target scores lower;
        ``max_hyde_chars`` cuts hyde passages back to whole sentences (200 lifts the
        mean target score from 87.71% to 89.61%); ``clean`` repairs or drops targets that
        lose points and adds our own short-query and named-entity rows (``clean.py``).
        """
        import datasets

        rows, report = data.build(n, seed, min_target_score=min_target_score, max_hyde_chars=max_hyde_chars,
                                  clean=clean)
        distribution = score_distribution([row["target_score"] for row in rows if row["split"] == "train"])
        log.info("qmd data: %s; %d rows used; training target scores %s", report, len(rows), distribution)
        return datasets.Dataset.from_list(rows)

    def dev(self) -> list[Example]:
        lines = DEV_QUERIES.read_text(encoding="utf-8").splitlines()
        return [{"query": line.strip()} for line in lines if line.strip()]

    def grammar(self, syntax: str = "lark") -> str:
        """The decoding grammar as Lark (llguidance, the served backend) or GBNF (xgrammar)."""
        return constrain.grammar_lark() if syntax == "lark" else constrain.grammar_gbnf()

    def stats(self, dataset: Any) -> dict[str, Any]:
        return dataset_stats(dataset)
