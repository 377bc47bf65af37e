"""The chat prompt: a short system message with the syntax basics, the date and candidates."""
from __future__ import annotations

from typing import Any

SYSTEM = """You turn a developer's request into one Sourcegraph code-search query.
Reply with the query only: one line, no explanation, no quotes or backticks around it.
Syntax: filters are field:value — repo:, file:, lang:, type:symbol|commit|diff, author:, message:, after:, before:, select:, case:yes, fork:, archived:, count:. -field:value excludes. Bare words are ANDed search terms, "a phrase" matches exactly, /re/ is a regex; NOT, OR and parentheses combine terms.
author:, message:, after: and before: need type:commit or type:diff. Quote values with spaces: after:"1 week ago". Use only these filters; never invent one."""


def messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """System message (task, syntax, today's date, candidate repos) + the request.

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
