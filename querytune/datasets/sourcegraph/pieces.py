"""Independent constructs a request is composed of, each with its phrasings and gold text.

A :class:`Draft` collects what the request says (``what`` for the head, and scope, time
and option fragments) and the gold query parts that those words imply. Content builders
fill ``what`` and the pattern; modifiers add one filter and one fragment each. Every
phrasing list goes through :meth:`Ctx.pick`, which keeps its last quarter for test rows.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from querytune.datasets.sourcegraph import vocab as v

#: share of scope/option/time phrases drawn from their short (1-3 word) phrasings
SHORT_SHARE = 0.9
_PLAIN_PATTERN = re.compile(r"[A-Za-z0-9_.$#@&*+=<>!?,;/-]+")


@dataclass
class Ctx:
    """The row's random source, date and whether it belongs to the held-out test split."""

    rng: random.Random
    today: date
    held_out: bool = False

    def pick(self, options: list):
        """A phrasing; the last quarter of a list of 4+ is reserved for held-out rows."""
        keep = len(options) - len(options) // 4 if len(options) >= 4 else len(options)
        if self.held_out and keep < len(options) and self.rng.random() < 0.5:
            return self.rng.choice(options[keep:])
        return self.rng.choice(options[:keep])

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def short(self, short: list, long: list, share: float | None = None):
        """A phrasing, from the 1-3 word list most of the time (real requests are terse)."""
        return self.pick(short if self.chance(SHORT_SHARE if share is None else share) else long)


@dataclass
class RepoRef:
    """Repos the request names; resolved against the candidates once those are drawn."""

    fulls: list[str]
    mentions: list[str]
    rev: str | None = None
    rev_style: str = "@"  # "@" -> repo:x@rev, "field" -> repo:x rev:rev
    implicit: bool = False  # "this repo": only resolvable through a single candidate


@dataclass
class Draft:
    intent: str
    what: str = ""
    pattern: str = ""  # the pattern expression, as query text
    pattern_or: bool = False  # top-level OR: parenthesise when filters are present
    params: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)
    repo: RepoRef | None = None
    lang: str | None = None
    no_repo_predicates: bool = False  # rev: cannot be combined with repo predicates
    file_specific: bool = False  # a file name or extension filter (implies a language)
    bare: bool = False  # the request is the content alone, typed like a search box

    def add(self, param: str, fragment: str | None = None) -> "Draft":
        self.params.append(param)
        if fragment:
            self.fragments.append(fragment)
        return self

    def fields(self) -> set[str]:
        return {p.lstrip("-(").split(":")[0] for p in self.params}


# ---------------------------------------------------------------- small helpers


def pattern_token(code: str) -> str:
    """A search term as query text: bare when it is one plain token, else a quoted phrase.

    >>> pattern_token("useEffect"), pattern_token("async def"), pattern_token("panic(")
    ('useEffect', '"async def"', '"panic("')
    """
    plain = (_PLAIN_PATTERN.fullmatch(code) and code.lower() not in ("and", "or", "not")
             and not re.match(r"-|/|[A-Za-z]+:(?![:/])", code))
    return code if plain else '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dots(name: str) -> str:
    return name.replace(".", "\\.")


def regex_escape(text: str) -> str:
    """A regex matching ``text``, with ``\\s`` for spaces so it stays one token."""
    return re.escape(text).replace("\\ ", "\\s")


def say_code(ctx: Ctx, code: str) -> str:
    """How a request writes a code snippet: bare, or in double or single quotes when it has spaces."""
    if " " in code or code.lower() in ("and", "or", "not"):
        return ctx.pick([f'"{code}"', f'"{code}"', f"'{code}'", code])
    return f'"{code}"' if ctx.chance(0.1) else code


def lang_said(ctx: Ctx, lang: str) -> str:
    return ctx.rng.choice(v.LANG_NAMES[lang])


def identifier(ctx: Ctx) -> tuple[str, str]:
    """(identifier, a noun phrase naming it)."""
    kind = ctx.rng.random()
    if kind < 0.4:
        name = ctx.rng.choice(v.FUNCTIONS)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, name, f"calls to {name}", f"the {name} function", f"uses of {name}",
                               f"{name} calls", f"references to {name}", f"callers of {name}",
                               f"anything calling {name}"])
    if kind < 0.7:
        name = ctx.rng.choice(v.TYPES)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, name, f"the {name} type", f"usages of {name}", f"references to {name}",
                               f"{name} instances", f"code that uses {name}", f"where {name} gets created"])
    if kind < 0.85:
        name = ctx.rng.choice(v.CONSTANTS)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, f"the {name} constant", f"the {name} env var", f"reads of {name}",
                               f"{name} settings", f"where we read {name}"])
    if kind < 0.95:
        name = ctx.rng.choice(v.FLAGS_NAMES)
        return name, ctx.pick([name, f"the {name} flag", f"the {name} feature flag", f"checks of {name}",
                               f"the flag {name}"])
    name = ctx.rng.choice(v.HEADERS)
    return name, ctx.pick([name, f"the {name} header", f"where we set {name}", f"reads of the {name} header"])


def simple_term(ctx: Ctx) -> tuple[str, str]:
    """(query term, spoken) for a short thing to combine with OR/AND/NOT."""
    roll = ctx.rng.random()
    if roll < 0.45:
        term = ctx.rng.choice(v.TERMS)
        return pattern_token(term), term
    if roll < 0.75:
        name, _ = identifier(ctx)
        return name, name
    code = ctx.rng.choice(v.CODE[ctx.rng.choice(list(v.CODE))])
    return pattern_token(code), say_code(ctx, code)


# ---------------------------------------------------------------- dates


def _month_start(today: date, month: int) -> date:
    return date(today.year if month <= today.month else today.year - 1, month, 1)


def _spoken_day(ctx: Ctx, day: date) -> str:
    if ctx.chance(0.5):
        return ctx.pick([day.isoformat(), f"{day:%b} {day.day} {day.year}", f"{day.month}/{day.day}/{day.year}"])
    return ctx.pick([f"{day:%B} {day.day}, {day.year}", day.isoformat(), f"{day.day} {day:%B} {day.year}",
                     f"{day:%b} {day.day} {day.year}", f"{day.month}/{day.day}/{day.year}"])


def after_date(ctx: Ctx) -> tuple[str, str]:
    """(time phrase, after: value) for 'since ...' style requests."""
    today, rng = ctx.today, ctx.rng
    roll = rng.random()
    if roll < 0.55:
        n = rng.randint(2, 12)
        weekday = rng.choice(["monday", "tuesday", "wednesday", "thursday", "friday"])
        if ctx.chance(SHORT_SHARE):
            return ctx.pick([("last week", '"1 week ago"'), ("since yesterday", "yesterday"), ("today", "today"),
                             (f"last {n} days", f'"{n} days ago"'), ("past month", '"1 month ago"'),
                             (f"past {n} weeks", f'"{n} weeks ago"'), ("past year", '"1 year ago"'), (f"last {n} months", f'"{n} months ago"'),
                             (f"since {weekday.capitalize()}", f'"last {weekday}"'),
                             (f"last {n} hours", f'"{n} hours ago"'), ("last month", '"1 month ago"')])
        return ctx.pick([
            ("last week", '"1 week ago"'), ("in the past week", '"1 week ago"'), ("since yesterday", "yesterday"),
            (f"in the last {n} days", f'"{n} days ago"'), (f"over the past {n} weeks", f'"{n} weeks ago"'),
            ("in the last month", '"1 month ago"'), (f"in the past {n} months", f'"{n} months ago"'),
            ("in the past year", '"1 year ago"'), (f"since last {weekday}", f'"last {weekday}"'),
            ("today", "today"), (f"in the last {n} hours", f'"{n} hours ago"'), ("this past month", '"1 month ago"'),
            (f"within the last {n} days", f'"{n} days ago"'), (f"since {weekday.capitalize()}", f'"last {weekday}"'),
            ("during the last year", '"1 year ago"'), (f"from the past {n} weeks", f'"{n} weeks ago"')])
    if roll < 0.7:
        month = rng.randint(1, 12)
        start = _month_start(today, month)
        if ctx.chance(SHORT_SHARE):
            return ctx.pick([(f"since {start:%B}", start.isoformat()), (f"since {start:%b}", start.isoformat())])
        return ctx.pick([(f"since {start:%B}", start.isoformat()), (f"since the start of {start:%B}", start.isoformat()),
                         (f"from {start:%B} on", start.isoformat()), (f"after {start:%B} 1st", start.isoformat())])
    day = today - timedelta(days=rng.randint(3, 500))
    return ctx.short(["since", "after"], ["from", "newer than"]) + " " + _spoken_day(ctx, day), day.isoformat()


def before_date(ctx: Ctx) -> tuple[str, str]:
    today, rng = ctx.today, ctx.rng
    roll = rng.random()
    if roll < 0.25:
        n = rng.randint(2, 11)
        if ctx.chance(0.5):
            return ctx.pick([(f"before {n} months ago", f'"{n} months ago"'), ("before last week", '"1 week ago"'),
                             (f"older than {n} weeks", f'"{n} weeks ago"')])
        return ctx.pick([(f"older than {n} months", f'"{n} months ago"'), ("before last week", '"1 week ago"'),
                         (f"more than {n} weeks ago", f'"{n} weeks ago"'), ("older than a year", '"1 year ago"'),
                         ("before yesterday", "yesterday")])
    if roll < 0.4:
        year = today.year if (today.month, today.day) > (12, 25) else today.year - 1
        return ctx.pick([("before christmas", f"{year}-12-25"), (f"before {year}", f"{year}-01-01"),
                         (f"before the end of {year - 1}", f"{year - 1}-12-31")])
    day = today - timedelta(days=rng.randint(3, 700))
    return ctx.short(["before", "until"], ["prior to", "up to"]) + " " + _spoken_day(ctx, day), day.isoformat()


# ---------------------------------------------------------------- content builders


def content_code(ctx: Ctx, d: Draft) -> None:
    """A pattern of some kind, phrased as a noun phrase in ``d.what``."""
    kinds = [("ident", 26), ("lang_code", 16), ("topic", 11), ("message", 10), ("term", 6), ("regex", 6),
             ("regexp_mode", 5), ("literal", 5), ("standard", 5), ("keyword_mode", 1.6), ("or", 7), ("and", 5),
             ("not", 5), ("group", 2), ("content", 6), ("neg_content", 5)]
    kind = ctx.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
    BUILD[kind](ctx, d)


def _ident(ctx, d):
    name, spoken = identifier(ctx)
    d.what, d.pattern = spoken, name


def _lang_code(ctx, d):
    lang = ctx.rng.choice(list(v.CODE))
    code = ctx.rng.choice(v.CODE[lang])
    said = say_code(ctx, code)
    d.what = said if ctx.chance(0.7) else ctx.pick([said, f"uses of {said}", f"code with {said}", f"{said} usages", f"occurrences of {said}",
                       f"anything using {said}", f"places that call {said}"])
    d.pattern = pattern_token(code)
    if ctx.chance(0.6):
        d.lang = lang


def _topic(ctx, d):
    spoken, terms = ctx.rng.choice(v.TOPICS)
    filler = ctx.pick(["", "", " handling", " logic", " code", " stuff", " implementation", " setup"])
    d.what = spoken if ctx.chance(0.7) else ctx.pick([f"{spoken}{filler}", f"the {spoken}{filler}", f"where we handle {spoken}",
                       f"anything about {spoken}", f"our {spoken}{filler}", f"code dealing with {spoken}"])
    d.pattern = terms


def _message(ctx, d):
    text = ctx.rng.choice(v.MESSAGES)
    q = ctx.pick(['"', '"', "'"])
    d.what = f"{q}{text}{q}" if ctx.chance(0.35) else ctx.pick([f"the error {q}{text}{q}", f"where we log {q}{text}{q}", f"the message {q}{text}{q}",
                       f"{q}{text}{q}", f"the string {q}{text}{q}", f"the exact phrase {text}",
                       f"where {q}{text}{q} comes from", f"the text {q}{text}{q}"])
    d.pattern = f'"{text}"'


def _term(ctx, d):
    term = ctx.rng.choice(v.TERMS)
    d.what = term if ctx.chance(0.7) else ctx.pick([term, f"{term} references", f"mentions of {term}", f"anything mentioning {term}",
                       f"all the {term} stuff", f"every {term} mention"])
    d.pattern = pattern_token(term)


def _regex(ctx, d):
    described, regex, _ = ctx.rng.choice(v.REGEXES)
    if ctx.chance(0.2):
        first, second = ctx.rng.choice(v.SEQUENCES)
        described, regex = f"{first} followed later on the same line by {second}", f"{regex_escape(first)}.*{second}"
    d.what = described if ctx.chance(0.4) else ctx.pick([described, f"anything that looks like {described}", f"a regex for {described}",
                       f"text matching {described}", f"patterns like {described}"])
    d.pattern = f"/{regex}/"


def _regexp_mode(ctx, d):
    if ctx.chance(0.3):
        first, second = ctx.rng.choice(v.SEQUENCES)
        described, regex = f"{first} followed by {second} on the same line", f"{regex_escape(first)}.*{second}"
    else:
        described, regex, _ = ctx.rng.choice([r for r in v.REGEXES if r[2]])
    d.what = ctx.short([f"{described}, regex", f"regexp {described}"], [f"{described}, in regex mode", f"{described} using regexp search",
                       f"{described} (treat it as a regular expression)", f"{described} with regexp matching",
                       f"{described}, regexp pattern type"])
    d.params.append("patterntype:regexp")
    d.pattern = regex


def _literal(ctx, d):
    text = ctx.rng.choice(v.LITERALS)
    d.what = ctx.short([f"literal {text}", f"{text} literally"], [f"the literal text {text}", f"exactly {text}, literally", f"{text} as a literal string",
                       f"a literal search for {text}", f"the characters {text} taken literally"])
    d.params.append("patterntype:literal")
    d.pattern = text


def _standard(ctx, d):
    text = ctx.rng.choice(v.MESSAGES)
    d.what = ctx.short([f"{text}, standard mode"], [f"{text} in standard mode", f"{text} with the standard pattern type",
                       f"{text} as one string, standard search", f"standard-mode matches of {text}"])
    d.params.append("patterntype:standard")
    d.pattern = text


def _keyword_mode(ctx, d):
    spoken, terms = ctx.rng.choice(v.TOPICS)
    d.what = ctx.short([f"{spoken}, keyword mode"], [f"{spoken} in keyword mode", f"{spoken} as a keyword search",
                       f"{spoken} using the keyword pattern type"])
    d.params.append("patterntype:keyword")
    d.pattern = terms


def _or(ctx, d):
    (a, sa), (b, sb) = simple_term(ctx), simple_term(ctx)
    if a == b:
        return _ident(ctx, d)
    d.what = ctx.pick([f"{sa} or {sb}", f"either {sa} or {sb}", f"{sa} or else {sb}", f"any of {sa} and {sb}",
                       f"{sa} or maybe {sb}", f"{sa}, or {sb}"])
    d.pattern, d.pattern_or = f"{a} OR {b}", True


def _and(ctx, d):
    (a, sa), (b, sb) = simple_term(ctx), simple_term(ctx)
    if a == b:
        return _ident(ctx, d)
    d.what = ctx.pick([f"both {sa} and {sb}", f"{sa} together with {sb}", f"files with {sa} and also {sb}",
                       f"{sa} and {sb} in the same file", f"places using {sa} as well as {sb}"])
    d.pattern = f"{a} AND {b}"


def _not(ctx, d):
    (a, sa), (b, sb) = simple_term(ctx), simple_term(ctx)
    if a == b:
        return _ident(ctx, d)
    d.what = ctx.pick([f"{sa} but not {sb}", f"{sa} without {sb}", f"{sa} where there's no {sb}",
                       f"files with {sa} that lack {sb}", f"{sa}, excluding anything with {sb}",
                       f"{sa} but never {sb}"])
    d.pattern = f"{a} NOT {b}"


def _group(ctx, d):
    (a, sa), (b, sb), (c, sc) = simple_term(ctx), simple_term(ctx), simple_term(ctx)
    if len({a, b, c}) < 3:
        return _or(ctx, d)
    d.what = ctx.pick([f"{sa} or {sb} but not {sc}", f"either {sa} or {sb}, without {sc}",
                       f"{sa} or {sb} in files that don't have {sc}", f"{sa}/{sb} minus anything with {sc}"])
    d.pattern = f"({a} OR {b}) NOT {c}"


def _content(ctx, d):
    if ctx.chance(0.3):
        word = ctx.rng.choice(["or", "and", "not", "OR", "AND", "NOT"])
        d.what = ctx.pick([f'the literal word "{word}"', f"the word {word} itself", f"the text '{word}'",
                           f"'{word}' as plain text"])
        d.params.append(f'content:"{word}"')
        return
    text = ctx.rng.choice(v.MESSAGES)
    d.what = ctx.pick([f"file content matching '{text}'", f"the content \"{text}\"", f"text \"{text}\" inside files"])
    d.params.append(f'content:"{text}"')


def _neg_content(ctx, d):
    name, spoken = identifier(ctx)
    other = ctx.rng.choice(v.MESSAGES)
    d.what = ctx.pick([f"{spoken} in files that don't contain '{other}'", f"{spoken} where the file lacks \"{other}\"",
                       f"{spoken}, skipping files with the text \"{other}\""])
    d.pattern = name
    d.params.append(f'-content:"{other}"')


BUILD = {"ident": _ident, "lang_code": _lang_code, "topic": _topic, "message": _message, "term": _term,
         "regex": _regex, "regexp_mode": _regexp_mode, "literal": _literal, "standard": _standard,
         "keyword_mode": _keyword_mode, "or": _or, "and": _and, "not": _not, "group": _group,
         "content": _content, "neg_content": _neg_content}


# ---------------------------------------------------------------- scope modifiers


def named_repo(ctx: Ctx, d: Draft, allow_rev: bool = True) -> None:
    roll = ctx.rng.random()
    if roll < 0.08:
        full = ctx.rng.choice(v.REPOS)[0]
        d.repo = RepoRef([full], [], implicit=True)
        d.fragments.append(ctx.short(["this repo", "in this repo", "in here", "here"],
                                     ["in the current repo", "in this codebase", "in the repo I'm in",
                                      "in this repository"]))
        return
    if roll < 0.14:
        org = ctx.rng.choice(v.ORGS)
        d.params.append(f"repo:{org}/")
        d.fragments.append(ctx.short([f"in {org} org", f"{org} org", f"all {org} repos", f"{org} repos"],
                                     [f"across the {org} org", f"in all {org} repos", f"anywhere in {org}'s repositories",
                                      f"in every repo under {org}", f"org-wide at {org}"]))
        return
    if roll < 0.2:
        (fa, ma), (fb, mb) = ctx.rng.sample(v.REPOS, 2)
        sa, sb = ctx.rng.choice(ma), ctx.rng.choice(mb)
        d.repo = RepoRef([fa, fb], [sa, sb])
        d.fragments.append(ctx.short([f"in {sa} or {sb}", f"{sa} or {sb}", f"in {sa}, {sb}"],
                                     [f"in either {sa} or {sb}", f"across {sa} and {sb}", f"in the {sa} and {sb} repos"]))
        return
    full, mentions = ctx.rng.choice(v.REPOS)
    said = ctx.rng.choice(mentions)
    d.repo = RepoRef([full], [said])
    phrase = ctx.short([f"in {said}", f"in {said}", f"in {said}", f"{said} repo", f"in {said} repo"],
                       [f"in the {said} repo", f"inside {said}", f"in the {said} repository",
                        f"within {said}", f"over in {said}", f"in the {said} codebase", f"in our {said} code",
                        f"for {said}", f"across {said}"])
    if allow_rev and ctx.chance(0.4):
        rev, spoken = revision(ctx)
        d.repo.rev, d.repo.rev_style = rev, "@" if ctx.chance(0.65) else "field"
        phrase = f"{phrase} {spoken}" if ctx.chance(0.8) else f"{spoken} of {said}"
        d.no_repo_predicates = True
    d.fragments.append(phrase)


def revision(ctx: Ctx) -> tuple[str, str]:
    roll = ctx.rng.random()
    if roll < 0.33:
        branch = ctx.rng.choice(v.BRANCHES)
        return branch, ctx.short([f"on {branch}", f"on branch {branch}", f"{branch} branch"],
                                 [f"on the {branch} branch", f"at branch {branch}", f"in the {branch} branch"])
    if roll < 0.48:
        tag = ctx.rng.choice(v.TAGS)
        return tag, ctx.short([f"at {tag}", f"at tag {tag}", f"tag {tag}"],
                              [f"as of the {tag} release", f"on the {tag} tag"])
    if roll < 0.56:
        sha = ctx.rng.choice(v.SHAS)
        return sha, ctx.short([f"at {sha}", f"at commit {sha}"], [f"as of commit {sha}", f"at revision {sha}"])
    if roll < 0.78:
        spoken, glob = ctx.rng.choice(v.REF_GLOBS)
        return glob, ctx.pick([f"on {spoken}", f"across {spoken}", f"in {spoken}"])
    a, b = ctx.rng.sample(v.BRANCHES, 2)
    return f"{a}:{b}", ctx.short([f"on {a} and {b}"],
                                 [f"on both {a} and {b}", f"on the {a} and {b} branches", f"on {a} as well as {b}"])


def at_time(ctx: Ctx, d: Draft) -> None:
    """rev:at.time(...) needs a named repo and no repo predicate."""
    day = ctx.today - timedelta(days=ctx.rng.randint(7, 600))
    spoken = _spoken_day(ctx, day)
    if ctx.chance(0.3):
        branch = ctx.rng.choice(v.BRANCHES)
        d.add(f"rev:at.time({day.isoformat()}, {branch})",
              ctx.pick([f"as {branch} looked on {spoken}", f"on {branch} as of {spoken}", f"on the {branch} branch back on {spoken}"]))
    else:
        d.add(f"rev:at.time({day.isoformat()})", ctx.short([f"as of {spoken}", f"as of {spoken}"],
                                                             [f"as the code was on {spoken}", f"at the state of {spoken}",
                                                              f"back on {spoken}"]))
    d.no_repo_predicates = True


def exclude_repo(ctx: Ctx, d: Draft) -> None:
    full, mentions = ctx.rng.choice(v.REPOS)
    said = ctx.rng.choice(mentions)
    d.add(f"-repo:{dots(said.split()[0])}", ctx.short([f"not {said}", f"not in {said}", f"minus {said}", f"except {said}"],
                                                      [f"except in {said}", f"but not in {said}", f"skipping {said}",
                                                       f"leaving out the {said} repo", f"outside of {said}",
                                                       f"ignoring {said}"]))


def repo_predicate(ctx: Ctx, d: Draft, as_subject: bool = False) -> str:
    """A repo predicate (or its legacy field); returns its phrase ('have a Dockerfile') for repo_list heads."""
    kinds = ["path", "-path", "repohasfile", "file", "content", "commit", "-commit", "repohascommitafter",
             "description", "meta", "topic"]
    weights = [1.1, 1, 0 if "type:symbol" in d.params else 1.1, 1, 1, 1.2, 1, 1.1, 1.2, 1.5, 1.5]
    kind = ctx.rng.choices(kinds, weights)[0]
    said, regex = ctx.rng.choice(v.FILES)
    n = ctx.rng.randint(2, 11)
    when, spoken = ctx.pick([(f"{n} months ago", f"the last {n} months"),
                             ("1 year ago", "the past year"),
                             ("1 month ago", "the last month"), (f"{n} weeks ago", f"the past {n} weeks")])
    if kind in ("path", "repohasfile"):
        param = f"repo:has.path({regex})" if kind == "path" else f"repohasfile:{regex}"
        phrase = ctx.pick([f"have {said}", f"contain {said}", f"include {said}", f"ship {said}"])
    elif kind == "-path":
        param = f"-repo:has.path({regex})"
        phrase = ctx.pick([f"don't have {said}", f"are missing {said}", f"lack {said}", f"have no {said}"])
    elif kind == "file":
        code = ctx.rng.choice(v.TERMS)
        param = f"repo:has.file(path:{regex} content:{regex_escape(code)})"
        phrase = ctx.pick([f"have {said} mentioning {code}", f"have {said} that contain {code}",
                           f"contain {said} with {code} in them"])
    elif kind == "content":
        term = ctx.rng.choice(v.TERMS)
        param = f"repo:has.content({regex_escape(term)})"
        phrase = ctx.pick([f"mention {term} somewhere", f"contain {term} anywhere", f"reference {term} at all"])
    elif kind in ("commit", "repohascommitafter"):
        param = f'repohascommitafter:"{when}"' if kind == "repohascommitafter" else f"repo:has.commit.after({when})"
        phrase = ctx.short([f"had commits in {spoken}", f"saw activity in {spoken}"],
                           [f"are still active, with commits in {spoken}", f"got pushed to in {spoken}"])
    elif kind == "-commit":
        param = f"-repo:has.commit.after({when})"
        phrase = ctx.short([f"had no commits in {spoken}"], [f"have had no commits in {spoken}",
                                                            f"went stale, nothing committed in {spoken}",
                                                            f"nobody has pushed to in {spoken}"])
    elif kind == "description":
        desc = ctx.rng.choice(v.DESCRIPTIONS)
        param = f"repo:has.description({desc})"
        phrase = ctx.short([f"are described as {desc}"], [f"describe themselves as a {desc}",
                                                           f"have {desc} in their description",
                                                           f"have a description saying {desc}"])
    elif kind == "meta":
        spoken_meta, arg = ctx.rng.choice(v.META)
        neg = ctx.chance(0.15)
        param = f"{'-' if neg else ''}repo:has.meta({arg})"
        has = re.sub(r"^(with|that have) ", "", spoken_meta)  # "with an oncall key set" -> "an oncall key set"
        if has != spoken_meta:  # "repos that have an oncall key set", not "repos that are with ..."
            phrase = f"don't have {has}" if neg else f"have {has}"
        else:
            phrase = f"are not {spoken_meta}" if neg else f"are {spoken_meta}"
    else:
        topic = ctx.rng.choice(v.TOPICS_GH)
        neg = ctx.chance(0.2)
        param = f"{'-' if neg else ''}repo:has.topic({topic})"
        phrase = ctx.short([f"aren't tagged {topic}"], [f"aren't tagged with the {topic} topic",
                                                         f"lack the {topic} topic"]) if neg else \
            ctx.short([f"are tagged {topic}", f"have topic {topic}"],
                      [f"have the {topic} topic", f"carry the GitHub topic {topic}"])
    d.params.append(param)
    if not as_subject:
        d.fragments.append(ctx.short([f"in repos that {phrase}", f"repos that {phrase}"],
                                     [f"only in repositories that {phrase}", f"limited to repos that {phrase}"], 0.8))
    return phrase


def file_scope(ctx: Ctx, d: Draft) -> str:
    """A file filter; with a language already chosen only folders and kinds of files, no extensions."""
    roll = ctx.rng.random() * (0.6 if {"lang", "-lang"} & d.fields() else 1.0)
    if roll < 0.4:
        said, regex = ctx.rng.choice(v.FILES)
        phrase = ctx.short([f"in {said}", f"in {said}", f"in {said}", f"{said} only"],
                           [f"in the {said}", f"inside {said}", f"across {said}", f"only in {said}"])
    elif roll < 0.6:
        directory = ctx.rng.choice(v.DIRECTORIES)
        anchored = ctx.chance(0.5)
        regex = f"^{directory}/" if anchored else f"{directory}/"
        phrase = ctx.short([f"under {directory}", f"under {directory}/"],
                           [f"under the top-level {directory} folder", f"below {directory}"]) \
            if anchored else ctx.short([f"in {directory} dirs", f"in any {directory} dir"],
                                       [f"in any {directory} directory", f"in {directory} folders anywhere",
                                        f"in paths containing {directory}"])
    elif roll < 0.8:
        name = ctx.rng.choice(v.FILE_NAMES)
        regex, d.file_specific = f"{dots(name)}$", True
        phrase = ctx.short([f"in {name}", f"{name} only"], [f"in files named {name}", f"in the {name} files",
                                                           f"only in {name}"])
    else:
        ext = ctx.rng.choice(v.EXTENSIONS)
        regex, d.file_specific = f"{dots(ext)}$", True
        phrase = ctx.short([f"in {ext} files", f"{ext} files only"], [f"in files ending in {ext}",
                                                                 f"in files with the {ext} extension"])
    param = f"file:{regex}"
    d.add(param, phrase)
    return phrase


def exclude_file(ctx: Ctx, d: Draft) -> None:
    said, regex = ctx.rng.choice(v.EXCLUSIONS)
    phrase = ctx.short([f"no {said}", f"not {said}", f"skip {said}", f"minus {said}"],
                       [f"excluding {said}", f"but skip {said}", f"not in {said}", f"ignoring {said}",
                        f"leave out {said}", f"without {said}", f"outside of {said}"])
    if ctx.chance(0.25):
        d.add(f"NOT file:{regex}", phrase)
    else:
        d.add(f"-file:{regex}", phrase)


def file_predicate(ctx: Ctx, d: Draft) -> None:
    roll = ctx.rng.random()
    if roll < 0.25:
        team = ctx.rng.choice(v.TEAMS)
        d.add(f"file:has.owner({team})", ctx.short([f"owned by {team}", f"in {team}'s files"],
                                                    [f"in files owned by {team}", f"in code that {team} owns",
                                                     f"where {team} is the code owner"]))
    elif roll < 0.47:
        d.add("-file:has.owner()", ctx.short(["in unowned files", "with no code owner"],
                                             ["in files nobody owns", "in files without a code owner"]))
    elif roll < 0.77:
        name = ctx.rng.choice(v.FIRST_NAMES)
        neg = ctx.chance(0.3)
        d.add(f"{'-' if neg else ''}file:has.contributor({name})",
              ctx.short([f"in files {name} never touched"], [f"in files {name} never touched"]) if neg else
              ctx.short([f"in files {name} touched", f"in {name}'s files"], [f"in files {name} has contributed to",
                                                                     f"in files that {name} worked on"]))
    else:
        term = ctx.rng.choice(v.TERMS)
        d.add(f"file:has.content({regex_escape(term)})", ctx.short([f"in files mentioning {term}",
                                                                    f"in files also with {term}"],
                                                                   [f"in files that also mention {term}",
                                                                    f"only in files that contain {term} too",
                                                                    f"in files which reference {term} as well"]))


def lang_scope(ctx: Ctx, d: Draft, lang: str | None = None) -> None:
    lang = lang or ctx.rng.choices([l for l, _ in v.LANGUAGES], [3 if i < 10 else 1 for i in range(len(v.LANGUAGES))])[0]
    said = lang_said(ctx, lang)
    d.add(f"lang:{lang}", ctx.short([f"in {said}", f"in {said}", f"{said}", f"{said} only", f"in {said} files"],
                                    [f"in {said} code", f"written in {said}", f"in our {said} sources",
                                     f"in the {said} code", f"just {said}", f"limited to {said}"]))


def exclude_lang(ctx: Ctx, d: Draft) -> None:
    lang = ctx.rng.choice(["javascript", "markdown", "json", "yaml", "typescript", "python", "java", "html", "css"])
    said = lang_said(ctx, lang)
    d.add(f"-lang:{lang}", ctx.short([f"no {said}", f"not {said}", f"minus {said}"],
                                     [f"but not in {said}", f"excluding {said} files", f"skip the {said} files",
                                      f"anything except {said}"]))


def two_langs(ctx: Ctx, d: Draft) -> None:
    a, b = ctx.rng.sample(["python", "go", "java", "typescript", "rust", "ruby", "kotlin", "c++"], 2)
    d.add(f"(lang:{a} OR lang:{b})", ctx.short([f"in {lang_said(ctx, a)} or {lang_said(ctx, b)}",
                                                f"{lang_said(ctx, a)} or {lang_said(ctx, b)}"],
                                               [f"in either {lang_said(ctx, a)} or {lang_said(ctx, b)} files"]))


def context_scope(ctx: Ctx, d: Draft) -> None:
    roll = ctx.rng.random()
    if roll < 0.55:
        said, name = ctx.rng.choice(v.CONTEXTS)
        d.add(f"context:{name}", ctx.short([f"{said} context", f"in {said} context"],
                                           [f"in {said} search context", f"within {said} context",
                                            f"using {said} search context"]))
    elif roll < 0.85:
        user = ctx.rng.choice(v.CONTEXT_USERS)
        d.add(f"context:@{user}", ctx.short([f"{user}'s context", f"in {user}'s context"],
                                            [f"in {user}'s personal search context", f"using {user}'s context"]))
    else:
        d.add("context:global", ctx.short(["global context", "in global context"],
                                          ["in the global context", "across the global search context"]))


def repo_flags(ctx: Ctx, d: Draft) -> None:
    options = [("fork:yes", ["forks too", "incl. forks", "including forks", "and include forked repos"]),
               ("fork:only", ["forks only", "only forks", "only in forks", "just forked repos"]),
               ("archived:yes", ["archived too", "incl. archived", "including archived repos",
                                 "even in archived repositories"]),
               ("archived:only", ["archived only", "only archived", "only archived repositories",
                                  "just the archived ones"]),
               ("visibility:public", ["public repos only", "public only", "only public repositories",
                                      "just public code"]),
               ("visibility:private", ["private repos only", "private only", "only private repositories",
                                       "just our private repos"]),
               (None, ["no archived", "no forks", "skip archived repos", "excluding forks"])]
    param, phrases = ctx.rng.choices(options, [3.3, 3, 3.4, 3, 4, 3.5, 1])[0]
    phrase = ctx.pick(phrases)
    if param:
        d.add(param, phrase)
    else:
        d.fragments.append(phrase)  # the defaults already leave these out


def case_flag(ctx: Ctx, d: Draft) -> None:
    d.add("case:yes", ctx.short(["case-sensitive", "match case", "exact case"],
                                ["case sensitive please", "exact case only", "with case sensitivity on",
                                 "respecting case"]))


def count_flag(ctx: Ctx, d: Draft) -> None:
    if ctx.chance(0.35):
        d.add("count:all", ctx.short(["all results", "every match", "no limit"],
                                     ["all results, not just the first page", "every single match",
                                      "show all results", "don't cap the results"]))
        return
    n = ctx.rng.choice([5, 10, 20, 25, 50, 100, 200, 500, 1000, 5000])
    d.add(f"count:{n}", ctx.short([f"top {n}", f"first {n}", f"max {n} results"],
                                  [f"top {n} results", f"just the first {n} matches", f"up to {n} hits",
                                   f"limit it to {n} results", f"at most {n} results"]))


def timeout_flag(ctx: Ctx, d: Draft) -> None:
    value, spoken = ctx.pick([("30s", "30 seconds"), ("1m", "a minute"), ("2m", "two minutes"), ("90s", "90 seconds"),
                              ("1m30s", "a minute and a half"), ("45s", "45 seconds"), ("5m", "5 minutes"),
                              ("20s", "20 seconds")])
    d.add(f"timeout:{value}", ctx.short([f"{spoken} timeout", f"timeout {spoken}"],
                                        [f"give it {spoken}", f"with a {spoken} timeout", f"let it run for {spoken}",
                                         f"allow up to {spoken}", f"timeout after {spoken}"]))


def index_flag(ctx: Ctx, d: Draft) -> None:
    value, phrases = ctx.rng.choice([("only", ["indexed only", "only indexed repos", "just the indexed repositories"]),
                                     ("no", ["unindexed only", "skip the index", "without the index",
                                             "skip the search index, search unindexed"])])
    d.add(f"index:{value}", ctx.pick(phrases))


# ---------------------------------------------------------------- commit and diff pieces


def author_piece(ctx: Ctx, d: Draft, committer: bool = False) -> None:
    roll = ctx.rng.random()
    if roll < 0.5:
        name = ctx.rng.choice(v.FIRST_NAMES)
        value, said = name, ctx.rng.choice([name, name.capitalize()])
    elif roll < 0.65:
        name = ctx.rng.choice(v.FULL_NAMES)
        value, said = f'"{name}"', name
    elif roll < 0.78:
        value = said = ctx.rng.choice(v.HANDLES)
    elif roll < 0.88:
        value = said = f"{ctx.rng.choice(v.FIRST_NAMES)}@{ctx.rng.choice(v.EMAIL_DOMAINS)}"
    else:
        said, value = ctx.rng.choice(v.BOTS)
    if committer:
        d.add(f"committer:{value}", ctx.short([f"committed by {said}", f"committer {said}"],
                                              [f"where {said} was the committer", f"that {said} committed",
                                               f"with {said} as committer"]))
    elif ctx.chance(0.18):
        if ctx.chance(0.5):
            d.add("-author:bot", ctx.short(["no bots", "not by bots"], ["not made by bots", "excluding bot commits",
                                                                        "that weren't from bots"]))
        else:
            d.add(f"-author:{value}", ctx.pick([f"not by {said}", f"excluding {said}", f"from anyone but {said}"]))
    else:
        d.add(f"author:{value}", ctx.short([f"by {said}", f"by {said}", f"from {said}"],
                                           [f"authored by {said}", f"made by {said}", f"that {said} wrote",
                                            f"written by {said}", f"pushed by {said}"]))


def message_piece(ctx: Ctx, d: Draft) -> None:
    if ctx.chance(0.6):
        word = ctx.rng.choice(v.MESSAGE_WORDS)
        value, said = word, word
    else:
        phrase = ctx.rng.choice(v.MESSAGE_PHRASES)
        value, said = f'"{phrase}"', ctx.pick([phrase, f'"{phrase}"'])
    if ctx.chance(0.1):
        d.add(f"-message:{value}", ctx.pick([f"without {said} in the message", f"whose message doesn't say {said}"]))
        return
    d.add(f"message:{value}", ctx.short([f"mentioning {said}", f"saying {said}", f"{said} in message"],
                                        [f"with {said} in the message", f"whose message says {said}",
                                         f"that mention {said}", f"with a commit message containing {said}",
                                         f"tagged {said} in the message"]))


def dates_piece(ctx: Ctx, d: Draft) -> None:
    roll = ctx.rng.random()
    if roll < 0.7:
        phrase, value = after_date(ctx)
        d.add(f"after:{value}", phrase)
    elif roll < 0.85:
        phrase, value = before_date(ctx)
        d.add(f"before:{value}", phrase)
    else:
        start = ctx.today - timedelta(days=ctx.rng.randint(40, 400))
        end = start + timedelta(days=ctx.rng.randint(5, 35))
        d.params += [f"after:{start.isoformat()}", f"before:{end.isoformat()}"]
        d.fragments.append(ctx.pick([f"between {_spoken_day(ctx, start)} and {_spoken_day(ctx, end)}",
                                     f"from {_spoken_day(ctx, start)} to {_spoken_day(ctx, end)}"]))
