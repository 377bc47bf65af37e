"""The chat prompt: a one-line system message with the task, the date and the candidates.

No syntax reference in the prompt: the fine-tune learns the language, and every prompt token is
paid again at each training step and each request (a 150-token syntax primer made training rows
2-3x longer, 208-315 tokens instead of 74-181, and the untrained model scores 0% semantic match
with it or without it)."""
from __future__ import annotations

from typing import Any

SYSTEM = ("Turn the developer's request into one Sourcegraph code-search query. "
          "Reply with the query only, on one line.")


def messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """System message (task, today's date, candidate repos) + the request.

    >>> m = messages({"request": "find config files", "date": "2026-11-25", "candidate_repos": []})
    >>> [x["role"] for x in m], m[0]["content"].splitlines()[-1]
    (['system', 'user'], 'Today is 2026-11-25.')
    """
    lines = [SYSTEM]
    if example.get("date"):
        lines.append(f"Today is {example['date']}.")
    candidates = example.get("candidate_repos") or []
    if candidates:
        lines.append("Candidate repositories: " + ", ".join(candidates) + ". If the request is about "
                     "one of them, filter with repo:^github\\.com/owner/name$; otherwise add no repo filter.")
    return [{"role": "system", "content": "\n".join(lines)}, {"role": "user", "content": example["request"]}]
