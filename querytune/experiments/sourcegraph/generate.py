"""Synthetic (request, query) pairs composed from independent constructs.

A row picks an intent (what kind of result: code, files, repos, symbols, commits, diffs,
structural or natural-language search), a head phrasing of that intent, a content
construct (a pattern of some kind), then scope, time and option modifiers, each drawn
independently with its own phrasings (``datasets/sourcegraph/{content,scope,options}.py``,
composed per intent in ``intents.py``). The request
puts the head and the fragments together in varied order (a share of code requests drop
the head, typed like a search box, and ``intents.BARE_SHARE`` of them are the content alone; scope and option
fragments come from their 1-3 word phrasings most of the time and short heads are drawn more
often, so requests stay as terse as real ones); the gold is the filters, in the order the GBNF grammar
writes them (``FIELD_ORDER``), followed by the pattern. At most ``intents.MAX_MODIFIERS`` scope and
option filters are kept per row.

About a quarter of rows carry candidate repositories, mostly of one org: when the request names one
of them the gold pins it exactly (``repo:^github\\.com/o/n$``), several of them one alternation
(``repo:^github\\.com/o/(a|b)$``; "in both repos" only when they are exactly the candidates), and "every repo
except X" with X a candidate ``-repo:^github\\.com/o/x$``; when it names a repo outside the candidates the gold
names that repo as said (``repo:payments``), and when it names none the gold has no repo filter. Rows whose head
is one of an intent's last ``HELD_OUT`` heads form the test split, and only they use the
held-out quarter of each fragment phrasing list.
A share of requests is then typed the way people type (lowercase, abbreviated, unpunctuated, the odd
typo: ``datasets/sourcegraph/surface.py``), with every word the gold carries kept as it is.
Rows are deduplicated by request and capped at ``MAX_PER_QUERY`` per canonical query.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from querytune.datasets.sourcegraph import templates as t
from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.content import CONTENT_WEIGHTS
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, dots
from querytune.datasets.sourcegraph.surface import vary
from querytune.experiments.sourcegraph.constructs import constructs_of
from querytune.experiments.sourcegraph.intents import BUILDERS, INTENTS, MODIFIERS, WEIGHTS, WHERE_CLAUSE

if TYPE_CHECKING:
    import datasets


#: gold filters are written in this order, patterns last: options first, as the GBNF decoding grammar
#: (gbnf.py) and the dev set write them, then scope, then commit fields
FIELD_ORDER = ["type", "case", "fork", "archived", "visibility", "select", "count", "timeout", "patterntype",
               "repo", "repohasfile", "repohascommitafter", "rev", "file", "lang", "author", "committer", "message",
               "after", "before", "context", "index", "rule", "content"]
#: field -> (alias, share of that field's uses written with it)
ALIASES = {"repo": [("r", 0.03)], "file": [("f", 0.025), ("path", 0.025)], "lang": [("l", 0.04), ("language", 0.04)],
           "message": [("m", 0.1), ("msg", 0.1)], "after": [("since", 0.06)], "before": [("until", 0.15)],
           "rev": [("revision", 0.25)]}
CANDIDATE_SHARE_NAMED = 0.45  # requests naming a repo: share that also get candidates (incl. it)
CANDIDATE_SHARE_OTHER = 0.2  # other requests: share that get candidates that must not be used
CANDIDATE_SHARE_UNNAMED = 0.15  # requests naming a repo outside the candidates (the gold names it as said)
CANDIDATE_SHARE_SEVERAL = 0.75  # requests naming several repos: share that get candidates (incl. them)
CANDIDATE_SHARE_EXCLUDED = 0.6  # "every repo except X": share where X is a candidate (pinned -repo:^...$)
HELD_OUT_WEIGHT = 0.8  # held-out heads drawn a bit less often (heads are also length-weighted): test is ~1/10 of rows
VAL_SHARE = 0.1
MAX_PER_QUERY = 2  # rows per canonical query (different phrasings of one search)
TERSE_SHARE = 0.65  # requests typed without a head, like a search box ("grpc timeout in Go")
TERSE_INTENTS = {"code", "file_list"}  # only where the head adds nothing to the query
CHATTY_SHARE = 0.065  # requests with an opener ("hey, ") or a closer (" for the postmortem"): real ones are terse
FIRST_DAY, LAST_DAY = date(2025, 6, 1), date(2026, 12, 31)


def generate(n: int, seed: int, **options: Any) -> "datasets.Dataset":
    """``n`` unique examples, identical for the same seed and options, with a ``split`` column.

    Options (``data.options`` in a train config) change the mix, so an ablation can train on
    another one without a code change: ``intent_weights`` (intent -> weight, replacing the default
    weight of each intent named), ``modifier_scale`` (modifier -> factor on its chance) and
    ``content_weights`` (content kind of a code search -> weight, replacing its default in
    ``content.CONTENT_WEIGHTS``; ``spoken_ident: 0`` trains without identifiers said in words, ``idiom: 0``
    without code idioms composed from a name, each giving the rows drawn before that kind existed).
    """
    import datasets

    unknown = sorted(set(options) - {"intent_weights", "modifier_scale", "content_weights"})
    if unknown:
        raise ValueError(f"data.options: sourcegraph's generator takes intent_weights, modifier_scale and "
                         f"content_weights, not {', '.join(unknown)}")
    weights = _draw_weights("intent_weights", options.get("intent_weights"), dict(zip(INTENTS, WEIGHTS)), "intent")
    scale = _mix("modifier_scale", options.get("modifier_scale"), MODIFIERS)
    content = _draw_weights("content_weights", options.get("content_weights"), CONTENT_WEIGHTS, "content kind")
    return datasets.Dataset.from_list(examples(n, seed, weights, scale, content))


def _draw_weights(option: str, given: Any, defaults: dict[str, float], noun: str) -> dict[str, float]:
    """``_mix`` for weights a draw picks among: at least one name must keep a weight above 0."""
    weights = _mix(option, given, list(defaults))
    if not any({**defaults, **weights}.values()):
        raise ValueError(f"data.options.{option}: every {noun} has weight 0")
    return weights


def _mix(option: str, given: Any, names: list[str]) -> dict[str, float]:
    """A name -> non-negative number table, checked against the names it may use."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ValueError(f"data.options.{option}: expected a table of name: number, got {given!r}")
    for name, value in given.items():
        if name not in names:
            raise ValueError(f"data.options.{option}.{name}: unknown; one of {', '.join(names)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"data.options.{option}.{name}: expected a number >= 0, got {value!r}")
    return {name: float(value) for name, value in given.items()}


def examples(n: int, seed: int, intent_weights: dict[str, float] | None = None,
             modifier_scale: dict[str, float] | None = None,
             content_weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    from querytune.experiments.sourcegraph.canonical import canonicalize
    from querytune.experiments.sourcegraph.grammar import parse_query

    # the surface layer draws from its own stream, so the rows under it are the ones drawn without it
    rng, split_rng, surface_rng = random.Random(seed), random.Random(seed + 1), random.Random(seed + 2)
    rows, requests, per_query, attempts = [], set(), Counter(), 0
    weights = [(intent_weights or {}).get(intent, weight) for intent, weight in zip(INTENTS, WEIGHTS)]
    while len(rows) < n:
        attempts += 1
        if attempts > 20 * n + 1000:
            raise ValueError(f"only {len(rows)} unique sourcegraph examples after {attempts} draws; ask for fewer")
        row = _example(rng, weights, modifier_scale or {}, content_weights or {})
        row["request"] = vary(surface_rng, row["request"], row["query"])[0]
        parsed = parse_query(row["query"])  # parsed once: parsing is most of the generation time
        key = canonicalize(parsed).text
        if row["request"].lower() in requests or per_query[key] >= MAX_PER_QUERY:
            continue
        requests.add(row["request"].lower())
        per_query[key] += 1
        row["constructs"] = sorted(constructs_of(parsed))
        index = int(row["template"].split("/")[1])
        held_out = index >= len(t.TEMPLATES[row["intent"]]) - t.HELD_OUT
        row["split"] = "test" if held_out else "val" if split_rng.random() < VAL_SHARE else "train"
        rows.append(row)
    return rows


def _example(rng: random.Random, weights: list[float], scale: dict[str, float],
             content: dict[str, float]) -> dict[str, Any]:
    intent = rng.choices(INTENTS, weights)[0]
    today = FIRST_DAY + timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days))
    index = _template_index(rng, intent)
    ctx = Ctx(rng, today, held_out=index >= len(t.TEMPLATES[intent]) - t.HELD_OUT, scale=scale, content_weights=content)
    draft = Draft(intent)
    BUILDERS[intent](ctx, draft)
    candidates = _resolve_repo(ctx, draft)
    request = _request(ctx, t.TEMPLATES[intent][index], draft)
    query = _gold(ctx, draft)
    return {"request": request, "query": query, "candidate_repos": candidates, "date": today.isoformat(),
            "intent": intent, "template": f"{intent}/{index}"}


def _template_index(rng: random.Random, intent: str) -> int:
    count = len(t.TEMPLATES[intent])
    # short heads are drawn more often ("find X" over "could you search for X"): real requests are terse
    weights = [(HELD_OUT_WEIGHT if i >= count - t.HELD_OUT else 1.0) * (3 / (2 + len(head.split()))) ** 3
               for i, head in enumerate(t.TEMPLATES[intent])]
    return rng.choices(range(count), weights)[0]


# ---------------------------------------------------------------- repos and candidates


def mention_regex(said: str) -> str:
    """How a spoken repo name becomes a repo: regex without candidates ('payments service' -> payments)."""
    return dots(said.split()[0])


def _resolve_repo(ctx: Ctx, d: Draft) -> list[str]:
    """Draw candidate repos and write the repo filters the request's named and excluded repos imply."""
    named = d.repo.fulls if d.repo else []
    excluded = d.excluded.fulls if d.excluded else []
    pool = _candidate_pool(ctx, d, named + excluded)
    pinned = pin_excluded = False
    if d.repo and d.repo.implicit:
        candidates, pinned = list(named), True
    elif d.repo and d.repo.collective:  # "in both repos": the candidates are exactly the named repos
        candidates, pinned = ctx.rng.sample(named, len(named)), True
    elif d.repo and ctx.chance(CANDIDATE_SHARE_SEVERAL if len(named) > 1 else CANDIDATE_SHARE_NAMED):
        candidates, pinned = _with(ctx, ctx.rng.sample(pool, min(len(pool), ctx.rng.randint(0, 3))), named), True
    elif d.excluded and not d.repo and ctx.chance(CANDIDATE_SHARE_EXCLUDED):
        candidates, pin_excluded = _with(ctx, ctx.rng.sample(pool, min(len(pool), ctx.rng.randint(1, 3))),
                                         excluded), True
    elif ctx.chance(CANDIDATE_SHARE_UNNAMED if d.repo else CANDIDATE_SHARE_OTHER):
        candidates = ctx.rng.sample(pool, min(len(pool), ctx.rng.randint(1, 3)))  # none of them is asked about
    else:
        candidates = []
    if d.excluded:
        value = pinned_regex(excluded) if pin_excluded else mention_regex(d.excluded.mentions[0])
        d.params.append(f"-repo:{value}")
    if d.repo:
        _write_repo(d, pinned_regex(named) if pinned else _mentions_regex(d.repo.mentions))
    return candidates


def _candidate_pool(ctx: Ctx, d: Draft, asked: list[str]) -> list[str]:
    """Repos to offer besides the asked ones: never one that looks like a repo the request names or
    excludes (so the request stays unambiguous), mostly of the same org (a user's candidates are theirs)."""
    taken = {x.lstrip("-").split(":", 1)[1].rstrip("/") for x in d.params if x.lstrip("-").startswith("repo:")}
    mentions = (d.repo.mentions if d.repo else []) + (d.excluded.mentions if d.excluded else [])
    said = [mention_regex(m).replace("\\", "").lower() for m in mentions]
    others = [full for full, _ in v.REPOS if full not in asked and not any(t in full for t in taken)
              and not any(m in full.lower().split("/", 1)[1] for m in said)]
    orgs = {full.split("/")[1] for full in asked}
    same_org = [full for full in others if full.split("/")[1] in orgs]
    return same_org if len(same_org) >= 3 and ctx.chance(0.7) else others


def _with(ctx: Ctx, candidates: list[str], asked: list[str]) -> list[str]:
    for full in asked:
        candidates.insert(ctx.rng.randint(0, len(candidates)), full)
    return candidates


def pinned_regex(fulls: list[str]) -> str:
    """One anchored regex for candidate repos: ``^github\\.com/acme/(web-app|payments-service)$``."""
    paths = [full.split("/", 1)[1] for full in fulls]
    orgs = {path.split("/")[0] for path in paths}
    if len(paths) == 1:
        body = dots(paths[0])
    elif len(orgs) == 1:
        body = f"{orgs.pop()}/(" + "|".join(dots(x.split("/")[1]) for x in paths) + ")"
    else:
        body = "(" + "|".join(dots(x) for x in paths) + ")"
    return f"^github\\.com/{body}$"


def _mentions_regex(mentions: list[str]) -> str:
    regexes = [mention_regex(m) for m in mentions]
    return regexes[0] if len(regexes) == 1 else "(" + "|".join(regexes) + ")"


def _write_repo(d: Draft, value: str) -> None:
    if d.repo.rev and d.repo.rev_style == "@":
        d.params.append(f"repo:{value}@{d.repo.rev}")
    else:
        d.params.append(f"repo:{value}")
        if d.repo.rev:
            d.params.append(f"rev:{d.repo.rev}")


# ---------------------------------------------------------------- gold and request text


def _field(param: str) -> str:
    return param.removeprefix("NOT ").lstrip("-(").split(":")[0].lower()


def _gold(ctx: Ctx, d: Draft) -> str:
    params = sorted(dict.fromkeys(d.params), key=lambda x: FIELD_ORDER.index(_field(x)))
    written = [_alias(ctx, x) for x in params]
    pattern = d.pattern
    if pattern and d.pattern_or and params:
        pattern = f"({pattern})"
    return " ".join(written + ([pattern] if pattern else []))


def _alias(ctx: Ctx, param: str) -> str:
    field = _field(param)
    if param.startswith("(") or "(" in param or field not in ALIASES:
        return param
    for alias, share in ALIASES[field]:
        if ctx.chance(share):
            prefix = "-" if param.startswith("-") else "NOT " if param.startswith("NOT ") else ""
            return prefix + alias + param[len(prefix) + len(field):]
    return param


PREFIXES = ["hey, ", "quick question, ", "so ", "ok so ", "hi, ", "hmm, ", "I was wondering, ", "yo, ",
            "sorry, ", "real quick, ", "question, ", "ugh, "]
SUFFIXES = [" so I can clean them up", " before we remove it", " for the incident review", ", thanks",
            " please", " for the security audit", ", it's breaking prod", " so we can deprecate it",
            " to see how it's used", " (trying to understand the codebase)", ", need it for a migration",
            " because I think there are a few left", " for the postmortem", ", thx", " for a code review",
            " since we're upgrading", " so I can ping the owners", ", I'm new here", " for the on-call handoff",
            " before the release", " to check the blast radius", " so I can write a codemod", ", urgent",
            " if possible", " for the tech debt list", " to estimate the work", " for the compliance review",
            " as part of the cleanup"]


def _join(ctx: Ctx, fragments: list[str]) -> str:
    if len(fragments) < 2:
        return "".join(fragments)
    roll = ctx.rng.random()
    if roll < 0.6:
        return " ".join(fragments)
    if roll < 0.85:
        return ", ".join(fragments)
    return " ".join(fragments[:-1]) + " and " + fragments[-1]


def _request(ctx: Ctx, head: str, d: Draft) -> str:
    rng = ctx.rng
    question, period = head.endswith("?"), head.endswith(".")
    head = head.rstrip("?.")
    fragments = list(d.fragments)
    rng.shuffle(fragments)
    what = d.what
    if not what:  # commit-style heads: the fragments are the subject ("commits by alice last week")
        what, fragments = _join(ctx, fragments), []
    terse = d.bare or d.intent in TERSE_INTENTS and not question and rng.random() < TERSE_SHARE
    if what.lower().startswith("where ") and (not terse and "where" in head.lower() or d.intent not in TERSE_INTENTS):
        what = WHERE_CLAUSE.sub("", what)  # not "where is where we log X used?" nor "files with where we set X"
    core = what if terse else head.format(what=what)  # typed like a search box: "grpc timeout in Go"
    if not terse and not head.endswith("{what}") and not question:
        core += ","  # "files for X, not the lines, in Go": fragments never run on into the head's tail
    if fragments and not question and rng.random() < 0.2:
        core = core[0].lower() + core[1:] if not core.startswith("I ") else core
        text = f"{fragments[0]}, {core} {_join(ctx, fragments[1:])}"
    else:
        text = f"{core} {_join(ctx, fragments)}"
    if rng.random() < CHATTY_SHARE / 2:
        text = ctx.pick(PREFIXES) + (text[0].lower() + text[1:] if not text.startswith("I ") else text)
    elif rng.random() < CHATTY_SHARE / 2:
        text += ctx.pick(SUFFIXES)
    text = re.sub(r"\s+([?.!,])(?=\s|$)", r"\1", " ".join(text.split())).replace(",,", ",").strip(", ")
    if question:
        text += "?"
    elif period or rng.random() < 0.08:
        text += "."
    if rng.random() < 0.3 and "case:yes" not in d.params:  # a case-sensitive search keeps its pattern's case
        text = text[0].upper() + text[1:]
    return text
