"""A toy task for platform tests: repeat a made-up word. Learnable in a few dozen steps."""
from __future__ import annotations

import random
from typing import Any

from querytune.experiments.base import Parsed, ParseError

SYLLABLES = ["ka", "lo", "mi", "ru", "te", "zo", "pa", "ne"]


class ToyTask:
    name = "toy"
    metrics = {"score": True, "nonempty": True}
    scorer_version = 1

    def messages(self, example: dict) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"Repeat: {example['word']}"}]

    def target(self, example: dict) -> str:
        return example["word"]

    def parse(self, text: str) -> Parsed:
        if not text.strip():
            raise ParseError("empty answer", position=0, reason="empty")
        return Parsed(text.strip())

    def score(self, example: dict, completion: str) -> dict[str, float]:
        return {"score": float(completion.strip() == example["word"]), "nonempty": float(bool(completion.strip()))}

    def reward(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [self.score({"word": w}, t)["score"] for w, t in zip(columns["word"], texts)]

    def generate(self, n: int, seed: int, **options: Any):
        import datasets

        rng = random.Random(seed)
        words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(n)]
        return datasets.Dataset.from_list([{"word": w} for w in words])

    def dev(self) -> list[dict]:
        return [{"word": w} for w in ("kalo", "mirute", "zopa", "neka")]

    def grammar(self, syntax: str = "lark") -> str | None:
        return None

    def choose(self, example: dict, completions: list[str]) -> int:
        """Best-of-N without gold: the first answer that is not empty."""
        return next((i for i, text in enumerate(completions) if text.strip()), 0)

    def stats(self, dataset) -> dict[str, Any]:
        return {"rows": len(dataset)}
