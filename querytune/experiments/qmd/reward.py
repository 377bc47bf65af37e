"""GRPO reward in TRL's reward-function shape (research §d).

The reward is the scorer's total/max clamped to 0..1, without the 50% lex-echo cap: the
echo already costs diversity points, and a flat cap would give every echoing sample of
a group the same reward and so no gradient.

>>> reward(["/no_think Expand this search query: auth"], ["lex: auth setup\\nvec: how to configure authentication"])
[0.8333333333333334]
"""
from __future__ import annotations

from typing import Any

from querytune.experiments.qmd.score import score_expansion

PROMPT_MARKER = "Expand this search query:"
END_OF_TURN = "<|im_end|>"


def _text(turn: str | list[dict[str, str]]) -> str:
    """A plain string, or the last message's content for a conversational turn."""
    return turn if isinstance(turn, str) else turn[-1]["content"]


def query_from_prompt(prompt: str | list[dict[str, str]]) -> str:
    """The text after the last prompt marker, cut at the end-of-turn token."""
    text = _text(prompt)
    if PROMPT_MARKER not in text:
        return text.strip()
    return text.rsplit(PROMPT_MARKER, 1)[1].split(END_OF_TURN, 1)[0].strip()


def reward(prompts: list, completions: list, **columns: Any) -> list[float]:
    """One reward per completion; the query comes from the ``query`` column when the
    dataset kept it, else from the prompt text."""
    queries = columns.get("query") or [query_from_prompt(prompt) for prompt in prompts]
    return [score_expansion(query, _text(completion)).reward for query, completion in zip(queries, completions)]
