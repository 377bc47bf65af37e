"""A stand-in for the sourcegraph task while ``querytune.experiments.sourcegraph`` is being written.

It takes the same example shape as the real task (``request``, ``candidate_repos``,
``date``), so the serving code is exercised exactly as it will be; its output language
is one non-empty line. Tests use the real task as soon as it imports (see conftest).
"""
from __future__ import annotations

import random
from typing import Any

from querytune.experiments.base import Parsed, ParseError

LANGS = ["python", "go", "rust", "typescript"]
WORDS = ["async", "retry", "cache", "parser", "config"]


class SourcegraphStandIn:
    name = "sourcegraph-standin"
    metrics = {"score": True}
    scorer_version = 1

    def messages(self, example: dict) -> list[dict[str, str]]:
        repos = ", ".join(example.get("candidate_repos") or []) or "none"
        return [{"role": "system", "content": f"Today is {example['date']}. Candidate repositories: {repos}."},
                {"role": "user", "content": example["request"]}]

    def target(self, example: dict) -> str:
        return example["query"]

    def parse(self, text: str) -> Parsed:
        if not text.strip():
            raise ParseError("empty query", position=0, reason="empty")
        if "\n" in text.strip():
            raise ParseError("a query is one line", position=text.index("\n"), reason="multiline")
        return Parsed(text.strip())

    def score(self, example: dict, completion: str) -> dict[str, float]:
        return {"score": float(completion.strip() == example["query"])}

    def reward(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        return [float(c == q) for c, q in zip(completions, columns["query"])]

    def generate(self, n: int, seed: int, **options: Any):
        import datasets

        rng = random.Random(seed)
        rows = []
        for _ in range(n):
            lang, word = rng.choice(LANGS), rng.choice(WORDS)
            rows.append({"request": f"find {lang} code about {word}", "candidate_repos": [], "date": "2026-11-25",
                         "query": f"lang:{lang} {word}"})
        return datasets.Dataset.from_list(rows)

    def dev(self) -> list[dict]:
        return [dict(row) for row in self.generate(4, seed=1)]

    def grammar(self, syntax: str = "lark") -> str | None:
        return 'root ::= [a-z:. ]+'

    def choose(self, example: dict, completions: list[str]) -> int:
        return max(range(len(completions)), key=lambda i: completions.count(completions[i]))  # the majority

    def stats(self, dataset) -> dict[str, Any]:
        return {"rows": len(dataset)}
