"""The chat turn the model sees and the completion it learns.

The prompt is the one the app sends at serving time (research §a, §g): a single user
turn, no system prompt, no intent line. Some training rows carry an ``intent``; it is
training-only context that serving never sends, so it is left out of the prompt
rather than teaching the model to rely on a line it will never get.

The prompt does not describe the output format, on purpose: clients of the chat route
send exactly this user turn, so a format hint (a system turn or a longer user turn)
seen only in training would be missing at serving, where SmolLM2's template puts its
default system turn instead. The format is taught by the targets (and enforced by the
grammar when decoding is constrained).

Targets are written in the canonical order hyde, lex, vec. The scorer is blind to line
order (the shared rows score a mean 84.75% in either their given or the canonical
order), so the choice is about learnability: the data mixes hyde-first (1,858 rows)
and hyde-last (986 rows); one fixed order is one less thing for a small model to guess.

>>> target({"output": [["lex", "auth config"], ["hyde", "Set AUTH_SECRET first."], ["vec", "how do I log in"]]})
'hyde: Set AUTH_SECRET first.\\nlex: auth config\\nvec: how do I log in'
"""
from __future__ import annotations

from querytune.experiments.base import Example, Messages
from querytune.experiments.qmd.parse import KINDS

PROMPT = "/no_think Expand this search query: {query}"


def messages(example: Example) -> Messages:
    return [{"role": "user", "content": PROMPT.format(query=example["query"])}]


def render(pairs: list[list[str]] | list[tuple[str, str]]) -> str:
    """``type: text`` lines in the order given."""
    return "\n".join(f"{kind}: {text}" for kind, text in pairs)


def canonical(pairs: list) -> list:
    """Pairs sorted hyde, lex, vec; lines of one type keep their order."""
    return sorted(pairs, key=lambda pair: KINDS.index(pair[0]))


def target(example: Example) -> str:
    return render(canonical(example["output"]))
