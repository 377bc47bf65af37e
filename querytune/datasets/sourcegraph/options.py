"""Option flags (repo flags, case, count, timeout, index), commit and diff fields, and dates."""
from __future__ import annotations

from datetime import date, timedelta

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import SHORT_SHARE, Ctx, Draft


def repo_flags(ctx: Ctx, d: Draft) -> None:
    """Fork, archive and visibility flags. "archived too" adds archived repos (``yes``); "archived
    repos" as what is searched means only them (``only``); "forks and archived" sets both."""
    options = [("fork:yes", ["forks too", "incl. forks", "including forks", "and include forked repos"]),
               ("fork:only", ["forks only", "only forks", "only in forks", "in forked repos", "just forked repos"]),
               ("archived:yes", ["archived too", "incl. archived", "including archived repos",
                                 "even in archived repositories"]),
               ("archived:only", ["archived only", "only archived", "in archived repos", "only archived repositories",
                                  "just the archived ones"]),
               ("fork:yes archived:yes", ["incl. forks and archived", "forks and archived too",
                                          "including forks and archived repos", "even forks and archived ones"]),
               ("visibility:public", ["public repos only", "public only", "in public repos", "only public repositories",
                                      "just public code"]),
               ("visibility:private", ["private repos only", "private only", "in private repos",
                                       "only private repositories", "just our private repos"]),
               (None, ["no archived", "no forks", "skip archived repos", "excluding forks"])]
    param, phrases = ctx.rng.choices(options, [3.1, 3.3, 3.1, 3, 1.5, 3.7, 3.3, 1])[0]
    d.params += param.split() if param else []  # the defaults (no forks, no archived) need no filter
    d.fragments.append(ctx.pick(phrases))


def case_flag(ctx: Ctx, d: Draft) -> None:
    d.add("case:yes", ctx.short(["case-sensitive", "match case", "exact case"],
                                ["case sensitive please", "exact case only", "with case sensitivity on",
                                 "respecting case"]))


def count_flag(ctx: Ctx, d: Draft) -> None:
    """A result limit, only where the request asks for one: an unlimited set ("no limit") or a size
    ("top 500"), the number carried as said. Plain "all"/"every" is no limit (see ``breadth``)."""
    if ctx.chance(0.35):
        d.add("count:all", ctx.short(["no limit", "every single match", "unlimited results", "no result cap"],
                                     ["don't cap the results", "all results, not just the first page",
                                      "with no result limit", "every single result, no cap",
                                      "remove the result limit", "without the usual result limit"]))
        return
    n = ctx.rng.choice([5, 10, 20, 25, 50, 100, 200, 250, 300, 500, 1000, 1500, 2000, 3000, 5000, 10000])
    d.add(f"count:{n}", ctx.short([f"top {n}", f"first {n}", f"max {n} results", f"{n} results"],
                                  [f"top {n} results", f"just the first {n} matches", f"up to {n} hits",
                                   f"limit it to {n} results", f"give me {n} results", f"at most {n} results"]))


def breadth(ctx: Ctx, d: Draft) -> None:
    """"all of them", "across everything": the default search already covers it, so no filter
    (a model that reads "all" as ``count:all`` limits nothing but changes the query)."""
    d.fragments.append(ctx.short(["everywhere", "across everything", "in all repos", "all of them",
                                  "across all our code", "every occurrence", "in every repo"],
                                 ["across the whole codebase", "show me all of them", "in all of our repositories",
                                  "every place it shows up", "all instances", "anywhere at all"]))


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
    elif ctx.chance(0.25):
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


# ---------------------------------------------------------------- dates


def month_start(today: date, month: int) -> date:
    """The first of the last ``month`` up to today ("since March" in May is this year's March)."""
    return date(today.year if month <= today.month else today.year - 1, month, 1)


def spoken_day(ctx: Ctx, day: date) -> str:
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
                             (f"past {n} weeks", f'"{n} weeks ago"'), ("past year", '"1 year ago"'),
                             (f"last {n} months", f'"{n} months ago"'),
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
        start = month_start(today, month)
        if ctx.chance(SHORT_SHARE):
            return ctx.pick([(f"since {start:%B}", start.isoformat()), (f"since {start:%b}", start.isoformat())])
        return ctx.pick([(f"since {start:%B}", start.isoformat()),
                         (f"since the start of {start:%B}", start.isoformat()),
                         (f"from {start:%B} on", start.isoformat()), (f"after {start:%B} 1st", start.isoformat())])
    day = today - timedelta(days=rng.randint(3, 500))
    return ctx.short(["since", "after"], ["from", "newer than"]) + " " + spoken_day(ctx, day), day.isoformat()


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
    return ctx.short(["before", "until"], ["prior to", "up to"]) + " " + spoken_day(ctx, day), day.isoformat()


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
        d.fragments.append(ctx.pick([f"between {spoken_day(ctx, start)} and {spoken_day(ctx, end)}",
                                     f"from {spoken_day(ctx, start)} to {spoken_day(ctx, end)}"]))
