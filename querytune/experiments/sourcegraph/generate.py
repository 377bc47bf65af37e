"""Synthetic (request, query) pairs composed from vocabularies and phrasing templates.

Each intent builder picks slot values and the gold query parts that they imply; a
template of that intent writes the request. About 30% of rows carry candidate
repositories: when the request names one of them the gold pins it exactly
(``repo:^github\\.com/o/n$``), when it does not the gold has no repo filter at all.
Rows from each intent's last templates form the test split (held-out phrasings).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Callable

from querytune.datasets.sourcegraph import templates as t
from querytune.datasets.sourcegraph import vocab as v

if TYPE_CHECKING:
    import datasets

#: gold parts are written in this order (the order the GBNF grammar expects)
PART_ORDER = ["type", "case", "fork", "archived", "visibility", "select", "count", "repo", "file", "lang",
              "author", "message", "after", "before", "pattern"]
CANDIDATE_SHARE_NAMED = 0.4  # requests naming a repo: share that also get candidates (incl. it)
CANDIDATE_SHARE_OTHER = 0.25  # other requests: share that get candidates that must not be used
HELD_OUT_WEIGHT = 0.5  # held-out templates are drawn half as often, so test is ~1/7 of rows
VAL_SHARE = 0.1
FIRST_DAY, LAST_DAY = date(2025, 6, 1), date(2026, 12, 31)
_PLAIN_PATTERN = re.compile(r"[A-Za-z0-9_.$#@&*+=<>!?,;/-]+")


class Draft:
    """Slot values for the template and gold query parts for one example."""

    def __init__(self, slots: dict[str, str], parts: dict[str, list[str]] | None = None,
                 repo: tuple[str, str] | None = None):
        self.slots, self.parts, self.repo = slots, parts or {}, repo

    def add(self, key: str, text: str) -> "Draft":
        self.parts.setdefault(key, []).append(text)
        return self


def generate(n: int, seed: int, **options: Any) -> "datasets.Dataset":
    """``n`` unique examples, identical for the same seed, with a ``split`` column."""
    import datasets

    if options:
        raise ValueError(f"sourcegraph generate() takes no options, got {sorted(options)}")
    return datasets.Dataset.from_list(examples(n, seed))


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    rng, split_rng = random.Random(seed), random.Random(seed + 1)
    rows, seen, attempts = [], set(), 0
    while len(rows) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise ValueError(f"only {len(rows)} unique sourcegraph examples after {attempts} draws; ask for fewer")
        row = _example(rng)
        key = (row["request"].lower(), row["query"])
        if key in seen:
            continue
        seen.add(key)
        held_out = int(row["template"].split("/")[1]) >= len(t.TEMPLATES[row["intent"]]) - t.HELD_OUT
        row["split"] = "test" if held_out else "val" if split_rng.random() < VAL_SHARE else "train"
        rows.append(row)
    return rows


def _example(rng: random.Random) -> dict[str, Any]:
    intent = rng.choice(sorted(BUILDERS))
    today = FIRST_DAY + timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days))
    draft = BUILDERS[intent](rng, today)
    candidates = _candidates(rng, draft, intent)
    if draft.repo is not None:
        full, mention = draft.repo
        draft.slots["repo"] = mention
        draft.add("repo", f"repo:^{_dots(full)}$" if candidates else f"repo:{_dots(mention)}")
    index = _template_index(rng, intent)
    request = _surface(rng, t.TEMPLATES[intent][index].format(**draft.slots))
    query = " ".join(part for key in PART_ORDER for part in draft.parts.get(key, []))
    return {"request": request, "query": query, "candidate_repos": candidates, "date": today.isoformat(),
            "intent": intent, "template": f"{intent}/{index}"}


def _candidates(rng: random.Random, draft: Draft, intent: str) -> list[str]:
    if intent == "this_repo":
        return [draft.repo[0]]
    share = CANDIDATE_SHARE_NAMED if draft.repo else CANDIDATE_SHARE_OTHER
    if rng.random() >= share:
        return []
    others = [full for full, _ in v.REPOS if not draft.repo or full != draft.repo[0]]
    chosen = rng.sample(others, rng.randint(0 if draft.repo else 1, 3))
    if draft.repo:
        chosen.insert(rng.randint(0, len(chosen)), draft.repo[0])
    return chosen


def _template_index(rng: random.Random, intent: str) -> int:
    count = len(t.TEMPLATES[intent])
    weights = [HELD_OUT_WEIGHT if i >= count - t.HELD_OUT else 1.0 for i in range(count)]
    return rng.choices(range(count), weights)[0]


def _surface(rng: random.Random, text: str) -> str:
    """Tidy spacing left by empty slots and vary case/punctuation a little, as people type."""
    text = re.sub(r"\s+([?.!,:])", r"\1", " ".join(text.split()))
    if rng.random() < 0.2:
        text = text[0].lower() + text[1:]
    if rng.random() < 0.15:
        text = text.rstrip(".?!")
    return text


# ---------------------------------------------------------------- slot helpers


def pattern_token(code: str) -> str:
    """A search term as query text: bare when it is one plain token, else a quoted phrase.

    >>> pattern_token("useEffect"), pattern_token("async def"), pattern_token("panic(")
    ('useEffect', '"async def"', '"panic("')
    """
    plain = (_PLAIN_PATTERN.fullmatch(code) and code.lower() not in ("and", "or", "not")
             and not re.match(r"-|/|[A-Za-z]+:(?![:/])", code))
    return code if plain else '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dots(name: str) -> str:
    return name.replace(".", "\\.")


def _say_code(rng: random.Random, code: str) -> str:
    return f"`{code}`" if rng.random() < 0.4 or " " in code and rng.random() < 0.5 else code


def _lang(rng: random.Random) -> tuple[str, str, str]:
    """(lang value, how the request says it, code from that language)."""
    value, names = rng.choice(v.LANGUAGES)
    return value, rng.choice(names), rng.choice(v.CODE[value])


def _any_code(rng: random.Random) -> str:
    return rng.choice(v.TERMS) if rng.random() < 0.4 else rng.choice(v.CODE[rng.choice(v.LANGUAGES)[0]])


def _repo(rng: random.Random) -> tuple[str, str]:
    full, mentions = rng.choice(v.REPOS)
    return full, rng.choice(mentions)


def _since(rng: random.Random, today: date) -> tuple[str, dict[str, str]]:
    """A time phrase for commit searches and the after:/before: parts it implies."""
    roll = rng.random()
    if roll < 0.3:
        return "", {}
    if roll < 0.75:
        n = rng.randint(2, 12)
        phrase, value = rng.choice([
            ("last week", '"1 week ago"'), ("in the past week", '"1 week ago"'), ("since yesterday", "yesterday"),
            (f"in the last {n} days", f'"{n} days ago"'), (f"over the past {n} weeks", f'"{n} weeks ago"'),
            ("in the last month", '"1 month ago"'), (f"in the past {n} months", f'"{n} months ago"'),
            ("in the past year", '"1 year ago"'), ("since last monday", '"last monday"')])
        return phrase, {"after": f"after:{value}"}
    day = today - timedelta(days=rng.randint(3, 400))
    spoken = rng.choice([f"{day:%B} {day.day}, {day.year}", day.isoformat(), f"{day.day} {day:%B} {day.year}"])
    if roll < 0.9:
        return rng.choice(["since", "after"]) + f" {spoken}", {"after": f"after:{day.isoformat()}"}
    return rng.choice(["before", "prior to"]) + f" {spoken}", {"before": f"before:{day.isoformat()}"}


def _with_since(rng: random.Random, today: date, draft: Draft) -> Draft:
    phrase, parts = _since(rng, today)
    draft.slots["since"] = phrase
    for key, text in parts.items():
        draft.add(key, text)
    return draft


# ---------------------------------------------------------------- intents


def _code_lang(rng, today):
    lang, said, code = _lang(rng)
    return Draft({"lang": said, "code": _say_code(rng, code)}, {"lang": [f"lang:{lang}"], "pattern": [pattern_token(code)]})


def _code_repo(rng, today):
    code = _any_code(rng)
    return Draft({"code": _say_code(rng, code)}, {"pattern": [pattern_token(code)]}, repo=_repo(rng))


def _code_repo_lang(rng, today):
    lang, said, code = _lang(rng)
    return Draft({"lang": said, "code": _say_code(rng, code)},
                 {"lang": [f"lang:{lang}"], "pattern": [pattern_token(code)]}, repo=_repo(rng))


def _code_files(rng, today):
    said, regex = rng.choice(v.FILES)
    code = _any_code(rng)
    return Draft({"files": said, "code": _say_code(rng, code)}, {"file": [f"file:{regex}"], "pattern": [pattern_token(code)]})


def _files(rng, today):
    said, regex = rng.choice(v.FILES)
    return Draft({"files": said}, {"file": [f"file:{regex}"]})


def _code_excluding(rng, today):
    lang, said, code = _lang(rng)
    excl_said, excl = rng.choice(v.EXCLUSIONS)
    return Draft({"lang": said, "code": _say_code(rng, code), "excl": excl_said},
                 {"lang": [f"lang:{lang}"], "file": [f"-file:{excl}"], "pattern": [pattern_token(code)]})


def _two_codes(rng) -> tuple[str, str, str, str]:
    value, names = rng.choice(v.LANGUAGES)
    first, second = rng.sample(v.CODE[value], 2)
    return value, rng.choice(names), first, second


def _either(rng, today):
    lang, said, a, b = _two_codes(rng)
    return Draft({"lang": said, "code": _say_code(rng, a), "code2": _say_code(rng, b)},
                 {"lang": [f"lang:{lang}"], "pattern": [f"({pattern_token(a)} OR {pattern_token(b)})"]})


def _but_not(rng, today):
    lang, said, a, b = _two_codes(rng)
    return Draft({"lang": said, "code": _say_code(rng, a), "code2": _say_code(rng, b)},
                 {"lang": [f"lang:{lang}"], "pattern": [f"{pattern_token(a)} NOT {pattern_token(b)}"]})


def _symbol(rng, today):
    symbol = rng.choice(v.SYMBOLS)
    return Draft({"symbol": symbol}, {"type": ["type:symbol"], "pattern": [symbol]})


def _symbol_kind(rng, today):
    lang, said, _ = _lang(rng)
    kind_said, kind = rng.choice(v.SYMBOL_KINDS)
    symbol = rng.choice(v.SYMBOLS)
    return Draft({"lang": said, "kind": kind_said, "symbol": symbol},
                 {"type": ["type:symbol"], "select": [f"select:symbol.{kind}"], "lang": [f"lang:{lang}"],
                  "pattern": [symbol]})


def _commits_author(rng, today):
    said, author = rng.choice(v.AUTHORS)
    return _with_since(rng, today, Draft({"author": said}, {"type": ["type:commit"], "author": [f"author:{author}"]}))


def _commits_author_repo(rng, today):
    draft = _commits_author(rng, today)
    draft.repo = _repo(rng)
    return draft


def _commit_message(rng, today):
    said, message = rng.choice(v.MESSAGE_TERMS)
    return _with_since(rng, today, Draft({"message": f'"{said}"' if rng.random() < 0.3 else said},
                                         {"type": ["type:commit"], "message": [f"message:{message}"]}))


def _diff_code(rng, today):
    code = _any_code(rng)
    return _with_since(rng, today, Draft({"code": _say_code(rng, code)},
                                         {"type": ["type:diff"], "pattern": [pattern_token(code)]}))


def _diff_select(kind: str) -> Callable:
    def build(rng, today):
        code = _any_code(rng)
        return Draft({"code": _say_code(rng, code)}, {"type": ["type:diff"], "select": [f"select:commit.diff.{kind}"],
                                                      "pattern": [pattern_token(code)]})
    return build


def _regex(rng, today):
    lang, said, _ = _lang(rng)
    described, regex = rng.choice(v.REGEXES)
    return Draft({"lang": said, "regex": described}, {"lang": [f"lang:{lang}"], "pattern": [f"/{regex}/"]})


def _repos_using(rng, today):
    code = _any_code(rng)
    return Draft({"code": _say_code(rng, code)}, {"select": ["select:repo"], "pattern": [pattern_token(code)]})


def _repos_with_file(rng, today):
    said, regex = rng.choice(v.FILES)
    return Draft({"files": said}, {"repo": [f"repo:has.path({regex})"]})


def _this_repo(rng, today):
    code = _any_code(rng)
    return Draft({"code": _say_code(rng, code)}, {"pattern": [pattern_token(code)]}, repo=(_repo(rng)[0], ""))


def _flags(rng, today):
    lang, said, code = _lang(rng)
    flag_said, flag = rng.choice(v.FLAGS)
    return Draft({"lang": said, "code": _say_code(rng, code), "flag": flag_said},
                 {flag.split(":")[0]: [flag], "lang": [f"lang:{lang}"], "pattern": [pattern_token(code)]})


BUILDERS: dict[str, Callable[[random.Random, date], Draft]] = {
    "code_lang": _code_lang, "code_repo": _code_repo, "code_repo_lang": _code_repo_lang,
    "code_files": _code_files, "files": _files, "code_excluding": _code_excluding, "either": _either,
    "but_not": _but_not, "symbol": _symbol, "symbol_kind": _symbol_kind, "commits_author": _commits_author,
    "commits_author_repo": _commits_author_repo, "commit_message": _commit_message, "diff_code": _diff_code,
    "diff_added": _diff_select("added"), "diff_removed": _diff_select("removed"), "regex": _regex,
    "repos_using": _repos_using, "repos_with_file": _repos_with_file, "this_repo": _this_repo, "flags": _flags,
}


# ---------------------------------------------------------------- stats


def stats(dataset) -> dict[str, Any]:
    """Counts per filter field, intent and split, candidate-repo shares and lengths."""
    from querytune.experiments.sourcegraph.grammar import parse_query

    rows = list(dataset)
    fields = Counter()
    for row in rows:
        for param in parse_query(row["query"]).params():
            fields[("-" if param.negated else "") + param.field] += 1
    requests = [len(r["request"]) for r in rows]
    queries = [len(r["query"]) for r in rows]
    with_candidates = [r for r in rows if r.get("candidate_repos")]
    return {
        "rows": len(rows),
        "fields": dict(fields.most_common()),
        "intents": dict(Counter(r["intent"] for r in rows).most_common()),
        "splits": dict(Counter(r.get("split", "train") for r in rows)),
        "with_candidates": len(with_candidates),
        "candidates_used": sum("repo:^" in r["query"] for r in with_candidates),
        "request_chars": {"mean": sum(requests) / max(1, len(rows)), "max": max(requests, default=0)},
        "query_chars": {"mean": sum(queries) / max(1, len(rows)), "max": max(queries, default=0)},
    }
