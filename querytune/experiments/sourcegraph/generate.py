"""Synthetic (request, query) pairs composed from independent constructs.

A row picks an intent (what kind of result: code, files, repos, symbols, commits, diffs,
structural or natural-language search), a head phrasing of that intent, a content
construct (a pattern of some kind), then scope, time and option modifiers, each drawn
independently with its own phrasings (``datasets/sourcegraph/pieces.py``). The request
puts the head and the fragments together in varied order (a share of code requests drop
the head, typed like a search box, and ``BARE_SHARE`` of them are the content alone; scope and option
fragments come from their 1-3 word phrasings most of the time and short heads are drawn more
often, so requests stay as terse as real ones); the gold is the filters, in the order the GBNF grammar
writes them (``FIELD_ORDER``), followed by the pattern. At most ``MAX_MODIFIERS`` scope and
option filters are kept per row.

About a quarter of rows carry candidate repositories: when the request names one (or two)
of them the gold pins it exactly (``repo:^github\\.com/o/n$``, ``repo:^github\\.com/o/(a|b)$``);
when it names a repo outside the candidates the gold names that repo as said
(``repo:payments``), and when it names none the gold has no repo filter. Rows whose head
is one of an intent's last ``HELD_OUT`` heads form the test split, and only they use the
held-out quarter of each fragment phrasing list.
Rows are deduplicated by request and capped at ``MAX_PER_QUERY`` per canonical query.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Callable

from querytune.datasets.sourcegraph import pieces as p
from querytune.datasets.sourcegraph import templates as t
from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, pattern_token  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import datasets

    from querytune.experiments.sourcegraph.nodes import Query

#: gold filters are written in this order, patterns last: options first, as the GBNF decoding grammar
#: (gbnf.py) and the dev set write them, then scope, then commit fields
FIELD_ORDER = ["type", "case", "fork", "archived", "visibility", "select", "count", "timeout", "patterntype",
               "repo", "repohasfile", "repohascommitafter", "rev", "file", "lang", "author", "committer", "message",
               "after", "before", "context", "index", "rule", "content"]
#: field -> (alias, share of that field's uses written with it)
ALIASES = {"repo": [("r", 0.03)], "file": [("f", 0.025), ("path", 0.025)], "lang": [("l", 0.04), ("language", 0.04)],
           "message": [("m", 0.1), ("msg", 0.1)], "after": [("since", 0.06)], "before": [("until", 0.15)],
           "rev": [("revision", 0.15)]}
CANDIDATE_SHARE_NAMED = 0.45  # requests naming a repo: share that also get candidates (incl. it)
CANDIDATE_SHARE_OTHER = 0.2  # other requests: share that get candidates that must not be used
CANDIDATE_SHARE_UNNAMED = 0.15  # requests naming a repo outside the candidates (the gold names it as said)
HELD_OUT_WEIGHT = 0.8  # held-out heads drawn a bit less often (heads are also weighted by length): test is ~1/10 of rows
VAL_SHARE = 0.1
MAX_PER_QUERY = 2  # rows per canonical query (different phrasings of one search)
MAX_MODIFIERS = 3  # scope/option filters kept per row: most real queries are a pattern and 1-3 filters
THIRD_MODIFIER_SHARE = 0.15  # rows that drew 3+ modifiers keep all three this often, else two
BARE_SHARE = 0.22  # code requests that are only a name or a term, without modifiers or a head
TERSE_SHARE = 0.65  # requests typed without a head, like a search box ("grpc timeout in Go")
TERSE_INTENTS = {"code", "file_list"}  # only where the head adds nothing to the query
CHATTY_SHARE = 0.08  # requests with an opener ("hey, ") or a closer (" for the postmortem"): real ones are terse
FIRST_DAY, LAST_DAY = date(2025, 6, 1), date(2026, 12, 31)


def generate(n: int, seed: int, **options: Any) -> "datasets.Dataset":
    """``n`` unique examples, identical for the same seed, with a ``split`` column."""
    import datasets

    if options:
        raise ValueError(f"sourcegraph generate() takes no options, got {sorted(options)}")
    return datasets.Dataset.from_list(examples(n, seed))


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    from querytune.experiments.sourcegraph.canonical import canonicalize
    from querytune.experiments.sourcegraph.grammar import parse_query

    rng, split_rng = random.Random(seed), random.Random(seed + 1)
    rows, requests, per_query, attempts = [], set(), Counter(), 0
    while len(rows) < n:
        attempts += 1
        if attempts > 20 * n + 1000:
            raise ValueError(f"only {len(rows)} unique sourcegraph examples after {attempts} draws; ask for fewer")
        row = _example(rng)
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


def _example(rng: random.Random) -> dict[str, Any]:
    intent = rng.choices(INTENTS, WEIGHTS)[0]
    today = FIRST_DAY + timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days))
    index = _template_index(rng, intent)
    ctx = Ctx(rng, today, held_out=index >= len(t.TEMPLATES[intent]) - t.HELD_OUT)
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
    return p.dots(said.split()[0])


def _resolve_repo(ctx: Ctx, d: Draft) -> list[str]:
    """Draw candidate repos and write the repo filter the request's named repos imply."""
    named = d.repo.fulls if d.repo else []
    taken = {x.lstrip("-").split(":", 1)[1].rstrip("/") for x in d.params if x.lstrip("-").startswith("repo:")}
    said = [mention_regex(m).replace("\\", "").lower() for m in (d.repo.mentions if d.repo else [])]
    # other candidates never look like a named or excluded repo, so the request stays unambiguous
    others = [full for full, _ in v.REPOS if full not in named and not any(t in full for t in taken)
              and not any(m in full.lower().split("/", 1)[1] for m in said)]
    pinned = False
    if d.repo and d.repo.implicit:
        candidates, pinned = list(named), True
    elif d.repo and ctx.chance(CANDIDATE_SHARE_NAMED):
        candidates, pinned = ctx.rng.sample(others, ctx.rng.randint(0, 3)), True
        for full in named:
            candidates.insert(ctx.rng.randint(0, len(candidates)), full)
    elif ctx.chance(CANDIDATE_SHARE_UNNAMED if d.repo else CANDIDATE_SHARE_OTHER):
        candidates = ctx.rng.sample(others, ctx.rng.randint(1, 3))  # none of them is the one asked about
    else:
        candidates = []
    if not d.repo:
        return candidates
    if pinned:
        paths = [full.split("/", 1)[1] for full in named]
        orgs = {path.split("/")[0] for path in paths}
        if len(paths) == 1:
            body = p.dots(paths[0])
        elif len(orgs) == 1:
            body = f"{orgs.pop()}/(" + "|".join(p.dots(x.split("/")[1]) for x in paths) + ")"
        else:
            body = "(" + "|".join(p.dots(x) for x in paths) + ")"
        value = f"^github\\.com/{body}$"
    else:
        regexes = [mention_regex(m) for m in d.repo.mentions]
        value = regexes[0] if len(regexes) == 1 else "(" + "|".join(regexes) + ")"
    if d.repo.rev and d.repo.rev_style == "@":
        d.params.append(f"repo:{value}@{d.repo.rev}")
    else:
        d.params.append(f"repo:{value}")
        if d.repo.rev:
            d.params.append(f"rev:{d.repo.rev}")
    return candidates


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


#: a "where ..." clause around the content ("where we set X", "where 'x' comes from") -> just the content
_CLAUSE = re.compile(r"^where (we (set|read|handle|log) )?| (comes from|gets created)$", re.IGNORECASE)


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
        what = _CLAUSE.sub("", what)  # not "where is where we log X used?" nor "files with where we set X"
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


# ---------------------------------------------------------------- intents


def _modifiers(ctx: Ctx, d: Draft, scale: float = 1.0, repo: float = 0.26, file: float = 0.15,
               lang: float = 0.1, flags: bool = True) -> None:
    """Scope and option filters, each drawn independently; at most ``MAX_MODIFIERS`` of them are kept
    (a random subset), then applied in a fixed order so later ones can see earlier ones."""
    if d.lang:
        p.lang_scope(ctx, d, d.lang)
    drawn = [(repo, "repo"), (0.04, "-repo"), (0.1, "repo_predicate"), (0 if d.lang else lang, "lang"),
             (0.012, "two_langs"), (file, "file"), (0.11, "-file"), (0.15, "file_predicate"), (0.036, "-lang")]
    if flags:
        drawn += [(0.09, "context"), (0.15, "repo_flags"), (0.035, "case"), (0.045, "count"), (0.035, "timeout"),
                  (0.04, "index")]
    fired = [name for probability, name in drawn if ctx.chance(probability * scale)]
    keep = MAX_MODIFIERS if ctx.chance(THIRD_MODIFIER_SHARE) else MAX_MODIFIERS - 1
    if len(fired) > keep:
        fired = ctx.rng.sample(fired, keep)
    for name, piece in _MODIFIERS:
        if name not in fired:
            continue
        if name == "repo_predicate" and d.no_repo_predicates:
            continue
        if name in ("lang", "two_langs", "-lang") and {"lang", "-lang"} & d.fields():
            continue
        if name == "-lang" and d.file_specific:
            continue  # "in main.go files, no Python" contradicts itself
        piece(ctx, d)
        if name == "repo":
            named = d.repo is not None and not d.repo.implicit and len(d.repo.fulls) == 1
            if named and not d.repo.rev and ctx.chance(0.2):
                p.at_time(ctx, d)


_MODIFIERS = [("repo", p.named_repo), ("-repo", p.exclude_repo), ("repo_predicate", p.repo_predicate),
              ("lang", p.lang_scope), ("two_langs", p.two_langs), ("file", p.file_scope), ("-file", p.exclude_file),
              ("file_predicate", p.file_predicate), ("-lang", p.exclude_lang), ("context", p.context_scope),
              ("repo_flags", p.repo_flags), ("case", p.case_flag), ("count", p.count_flag),
              ("timeout", p.timeout_flag), ("index", p.index_flag)]


def _code(ctx, d):
    if ctx.chance(BARE_SHARE):  # a search-box request: just the thing ("RegisterSpan", "grpc timeout")
        p.BUILD[ctx.rng.choice(["ident", "term", "topic"])](ctx, d)
        d.bare = True
        return
    p.content_code(ctx, d)
    _modifiers(ctx, d)


def _simple_content(ctx: Ctx, d: Draft) -> None:
    """Content for result-shape intents: one identifier, term, snippet or phrase."""
    kind = ctx.rng.choices(["ident", "lang_code", "term", "message", "topic", "or"], [4, 3, 2, 1.5, 1, 1])[0]
    p.BUILD[kind](ctx, d)
    if d.what.lower().startswith("where "):
        d.what = _CLAUSE.sub("", d.what)  # "files with X", not "files with where we set X"


def _select(value: str, scale: float = 0.7) -> Callable:
    def build(ctx, d):
        _simple_content(ctx, d)
        d.params.append(f"select:{value}")
        _modifiers(ctx, d, scale)
    return build


def _type(value: str) -> Callable:
    def build(ctx, d):
        _simple_content(ctx, d)
        d.params.append(f"type:{value}")
        _modifiers(ctx, d, 0.7)
    return build


def _type_path(ctx, d):
    word = ctx.rng.choice([n.lower() for n in v.NOUNS] + ["auth", "handler", "middleware", "migration", "fixture",
                                                           "webhook", "billing", "checkout", "login", "seed"])
    d.what, d.pattern = word, word
    d.params.append("type:path")
    _modifiers(ctx, d, 0.6, file=0.0)


def _type_repo(ctx, d):
    word = ctx.rng.choice(["sdk", "terraform", "payments", "infra", "docs", "api", "mobile", "cli", "ml", "etl",
                           "helm", "operator", "plugin", "proxy", "dashboard", "bot", "template", "monorepo"])
    d.what, d.pattern = word, word
    d.params.append("type:repo")
    if ctx.chance(0.3):
        p.repo_flags(ctx, d)


def _repo_list(ctx, d):
    d.what = p.repo_predicate(ctx, d, as_subject=True)
    if ctx.chance(0.2):
        family = lambda param: "commit" if "commit" in param else param.lstrip("-").split("(")[0]  # noqa: E731
        second = p.repo_predicate(ctx, d, as_subject=True)
        if family(d.params[-1]) == family(d.params[-2]):
            d.params.pop()  # two of a kind would repeat a once-only field or contradict the first
        else:
            d.what += ctx.pick([" and ", " but also ", ", and "]) + second
    if ctx.chance(0.3):
        org = ctx.rng.choice(v.ORGS)
        d.what += " " + ctx.pick([f"in {org}", f"under {org}", f"at {org}", f"in the {org} org"])
        d.params.append(f"repo:{org}/")
    if ctx.chance(0.15):
        p.repo_flags(ctx, d)
    if ctx.chance(0.1):
        p.count_flag(ctx, d)


def _file_list(ctx, d):
    said, regex = ctx.rng.choice(v.FILES)
    d.what = said
    d.params.append(f"file:{regex}")
    _modifiers(ctx, d, 0.6, file=0.0, lang=0.0)


def _symbol(ctx, d):
    roll = ctx.rng.random()
    name = ctx.rng.choice(v.TYPES + v.FUNCTIONS[::3] + v.CONSTANTS[::4])
    d.params.append("type:symbol")
    d.pattern = name
    if roll < 0.55:
        spoken, kind = ctx.rng.choice(v.SYMBOL_KINDS)
        singular = kind.replace("-", " ")
        d.params.append(f"select:symbol.{kind}")
        d.what = ctx.pick([f"the {singular} {name}", f"the {name} {singular}", f"{spoken} named {name}",
                           f"{spoken} called {name}"])
    else:
        d.what = name
    _modifiers(ctx, d, 0.8, file=0.1, lang=0.25, flags=False)
    if ctx.chance(0.05):
        p.count_flag(ctx, d)


def _commit_scope(ctx: Ctx, d: Draft, time: float = 0.55) -> None:
    if ctx.chance(0.35):
        p.named_repo(ctx, d, allow_rev=ctx.chance(0.3))
        if d.repo and not d.repo.implicit and len(d.repo.fulls) == 1 and not d.repo.rev and ctx.chance(0.15):
            head, base = ctx.rng.sample(v.BRANCHES[:8] + v.TAGS[:3], 2)
            d.repo.rev, d.repo.rev_style = f"{head}:^{base}", "@" if ctx.chance(0.7) else "field"
            d.fragments.append(ctx.pick([f"on {head} but not in {base}", f"that are on {head} and not yet in {base}",
                                         f"reachable from {head} but not from {base}"]))
    if ctx.chance(0.12):
        p.file_scope(ctx, d)
    if ctx.chance(0.06):
        p.lang_scope(ctx, d)
    if ctx.chance(time):
        p.dates_piece(ctx, d)
    if ctx.chance(0.05):
        p.count_flag(ctx, d)


def _commit(ctx, d):
    d.params.append("type:commit")
    if ctx.chance(0.55):
        p.author_piece(ctx, d)
    if ctx.chance(0.15):
        p.author_piece(ctx, d, committer=True)
    if ctx.chance(0.45) or len(d.params) == 1:
        p.message_piece(ctx, d)
    _commit_scope(ctx, d)


def _diff(ctx, d):
    d.params.append("type:diff")
    _simple_content(ctx, d)
    d.what = ctx.pick([f"touching {d.what}", f"that mention {d.what}", f"involving {d.what}", f"with {d.what}",
                       f"around {d.what}", f"that changed {d.what}"])
    if ctx.chance(0.08):
        d.params.append("select:commit.diff")
        d.fragments.append(ctx.pick(["full diffs please", "show the whole diff", "with the diff hunks"]))
    if ctx.chance(0.3):
        p.author_piece(ctx, d)
    if ctx.chance(0.08):
        p.author_piece(ctx, d, committer=True)
    if ctx.chance(0.1):
        p.message_piece(ctx, d)
    _commit_scope(ctx, d)


def _diff_select(value: str) -> Callable:
    def build(ctx, d):
        d.params += ["type:diff", f"select:{value}"]
        _simple_content(ctx, d)
        if ctx.chance(0.15):
            p.author_piece(ctx, d)
        _commit_scope(ctx, d, time=0.35)
    return build


def _structural(ctx, d):
    described, template, lang = ctx.rng.choice(v.STRUCTURAL)
    d.what = described
    d.params += ["patterntype:structural", f"lang:{lang}"]
    d.pattern = template
    holes = re.findall(r":\[(\w+)\]", template)
    if holes and ctx.chance(0.5):
        hole = holes[0]
        d.add(f"rule:'where :[{hole}] != \"\"'", ctx.pick([f"where the {hole} part isn't empty",
                                                             f"only when {hole} is non-empty"]))
    if ctx.chance(0.15):
        d.fragments.append(ctx.pick([f"in {p.lang_said(ctx, lang)}", f"{p.lang_said(ctx, lang)} code"]))
    _modifiers(ctx, d, 0.5, lang=0.0, flags=False)


def _nls(ctx, d):
    spoken, _ = ctx.rng.choice(v.TOPICS)
    question = ctx.pick([f"how we handle {spoken}", f"where the {spoken} is configured", f"how {spoken} works",
                         f"what sets the {spoken}", f"code that implements {spoken}"])
    d.what, d.pattern = question, question
    d.params.append("patterntype:nls")
    if ctx.chance(0.3):
        p.named_repo(ctx, d, allow_rev=False)


#: intent -> (weight, builder)
_INTENTS: dict[str, tuple[float, Callable[[Ctx, Draft], None]]] = {
    "code": (44, _code), "select_file": (3, _select("file")), "select_repo": (4, _select("repo")),
    "select_dir": (1.5, _select("file.directory")), "select_owners": (1.5, _select("file.owners")),
    "select_content": (1.8, _select("content")), "select_symbol": (1.6, _select("symbol")),
    "type_file": (2, _type("file")), "type_path": (2.5, _type_path), "type_repo": (2.6, _type_repo),
    "repo_list": (12, _repo_list), "file_list": (4, _file_list), "symbol": (7, _symbol), "commit": (8, _commit),
    "diff": (5.5, _diff), "diff_added": (2.5, _diff_select("commit.diff.added")),
    "diff_removed": (2, _diff_select("commit.diff.removed")), "diff_commits": (1.5, _diff_select("commit")),
    "structural": (4.5, _structural), "nls": (1.3, _nls),
}
INTENTS = sorted(_INTENTS)
WEIGHTS = [_INTENTS[i][0] for i in INTENTS]
BUILDERS = {name: builder for name, (_, builder) in _INTENTS.items()}


# ---------------------------------------------------------------- constructs and stats


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
