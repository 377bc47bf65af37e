"""The sourcegraph task: natural-language request -> Sourcegraph code-search query."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from querytune.experiments.base import Example, Messages, Parsed
from querytune.experiments.sourcegraph import constrain, metrics, prompt
from querytune.experiments.sourcegraph.validate import check

if TYPE_CHECKING:
    import datasets

SCORER_VERSION = metrics.SCORER_VERSION  # bumped in metrics.py, whose README line says why
DEV_PATH = Path(__file__).resolve().parents[2] / "datasets" / "sourcegraph" / "dev.jsonl"


class SourcegraphTask:
    """Strict parse/validate, canonical semantic match, synthetic data and a decoding grammar."""

    name = "sourcegraph"
    metrics = metrics.METRICS
    scorer_version = SCORER_VERSION

    def messages(self, example: Example) -> Messages:
        return prompt.messages(example)

    def target(self, example: Example) -> str:
        return example["query"]

    def parse(self, text: str) -> Parsed:
        query = check(text)
        notes = ["filters before/after an OR scope the whole OR (hoisted)"] if query.hoisted else []
        return Parsed(query, notes)

    def score(self, example: Example, completion: str) -> dict[str, float]:
        return metrics.score(example, completion)

    def reward(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        return metrics.reward(prompts, completions, **columns)

    def generate(self, n: int, seed: int, **options: Any) -> "datasets.Dataset":
        from querytune.experiments.sourcegraph.generate import generate

        return generate(n, seed, **options)

    def dev(self) -> list[Example]:
        return [dict(row) for row in _dev_rows()]

    def grammar(self, syntax: str = "lark") -> str:
        """The decoding grammar as Lark (llguidance, the served backend) or GBNF (xgrammar)."""
        return constrain.grammar_lark() if syntax == "lark" else constrain.grammar_gbnf()

    def choose(self, example: Example, completions: list[str]) -> int:
        from querytune.experiments.sourcegraph.vote import vote

        return vote(completions, metrics._today(example))

    @staticmethod
    def stats(dataset) -> dict[str, Any]:
        from querytune.experiments.sourcegraph.constructs import stats

        return stats(dataset)


@lru_cache(maxsize=1)
def _dev_rows() -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in DEV_PATH.read_text().splitlines() if line.strip())
