"""The language constructs a gold query uses, read from its parse, and dataset statistics over them."""
from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from querytune.experiments.sourcegraph.nodes import Query


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def constructs_of(query: "str | Query") -> set[str]:
    """The language constructs a gold query uses, read from its parse (not from generator tags).

    >>> sorted(constructs_of('r:acme/ lang:go -file:test (foo OR "a b")'))
    ['-file', 'alias:r', 'lang', 'op:OR', 'op:parens', 'pattern:quoted', 'pattern:word', 'repo']
    """
    from querytune.experiments.sourcegraph.grammar import parse_query

    parsed = parse_query(query) if isinstance(query, str) else query
    query, found = parsed.text, set()
    for param in parsed.params():
        name = param.raw.lstrip("-").split(":")[0].lower()
        negated = "-" if param.negated else ""
        found.add(negated + param.field)
        if name != param.field:
            found.add(f"alias:{name}")
        if param.predicate:
            found.add(f"{negated}{param.field}:{param.predicate}()")
        if param.field in ("type", "patterntype", "select", "fork", "archived", "visibility", "index"):
            value = param.value.lower()
            found.add(f"{param.field}:{'symbol.<kind>' if value.startswith('symbol.') else value}")
        if param.field == "count":
            found.add("count:all" if param.value.lower() == "all" else "count:N")
        if param.field == "case":
            found.add("case:yes")
        if param.field == "context":
            value = param.value
            found.add("context:@user/org" if value.startswith("@") else "context:global" if value == "global"
                      else "context:name")
        if param.field == "repo" and param.rev is not None:
            found.add("rev:repo@rev")
        if param.field == "repo" and param.value.startswith("^github\\.com/"):
            found.add("repo:candidate")
        revs = param.rev if param.field == "repo" else param.value if param.field == "rev" else None
        if revs:
            found.update({"rev:glob" if r.startswith("*") else "rev:exclude" if r.startswith("^") else "rev:ref"
                          for r in revs.split(":")})
            if ":" in revs:
                found.add("rev:list")
        if param.field in ("after", "before") or param.predicate in ("at.time", "has.commit.after"):
            text = param.value or (param.args or "").split(",")[0]
            found.add("date:absolute" if re.match(r"\d{4}-\d{2}-\d{2}$", text.strip()) else "date:relative")
            if param.quoted:
                found.add("date:quoted")
    for pattern in parsed.patterns():
        found.add(f"pattern:{pattern.kind}")
        if pattern.negated:
            found.add("op:NOT pattern")
    bare = _QUOTED.sub('""', query)
    for op in ("AND", "OR"):
        if re.search(rf"\s{op}\s", bare, re.IGNORECASE):
            found.add(f"op:{op}")
    if re.search(r"(^|[\s(])NOT\s+-?[A-Za-z]+:", bare):
        found.add("op:NOT filter")
    if re.search(r"(^|\s)\(", bare):
        found.add("op:parens")
    return found


def stats(dataset) -> dict[str, Any]:
    """Counts per construct, intent and split, candidate-repo shares and lengths."""
    rows = list(dataset)
    constructs = Counter(c for r in rows for c in constructs_of(r["query"]))
    words = [len(r["request"].split()) for r in rows]
    queries = [len(r["query"]) for r in rows]
    with_candidates = [r for r in rows if r.get("candidate_repos")]
    vocabulary = {w.lower().strip(".,?!'\"()") for r in rows for w in r["request"].split()}
    return {
        "rows": len(rows),
        "fields": {k: n for k, n in constructs.most_common() if ":" not in k and " " not in k},
        "constructs": dict(constructs.most_common()),
        "intents": dict(Counter(r["intent"] for r in rows).most_common()),
        "splits": dict(Counter(r.get("split", "train") for r in rows)),
        "with_candidates": len(with_candidates),
        "candidates_used": sum("repo:^" in r["query"] for r in with_candidates),
        "request_words": {"mean": sum(words) / max(1, len(rows)), "max": max(words, default=0)},
        "request_vocabulary": len(vocabulary),
        "query_chars": {"mean": sum(queries) / max(1, len(rows)), "max": max(queries, default=0)},
    }
