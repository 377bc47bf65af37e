"""Revisions of a named repo: a branch, tag, commit, glob or list (``repo:x@rev``), and the code as it
was at a date (``rev:at.time``), each with its spoken forms."""
from __future__ import annotations

from datetime import date, timedelta

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.options import month_start, spoken_day
from querytune.datasets.sourcegraph.pieces import Ctx, Draft


def revision(ctx: Ctx) -> tuple[str, str]:
    roll = ctx.rng.random()
    if roll < 0.25:
        branch = ctx.rng.choice(v.BRANCHES)
        return branch, ctx.short([f"on {branch}", f"on branch {branch}", f"{branch} branch"],
                                 [f"on the {branch} branch", f"at branch {branch}", f"in the {branch} branch"])
    if roll < 0.38:
        tag = ctx.rng.choice(v.TAGS)
        return tag, ctx.short([f"at {tag}", f"at tag {tag}", f"tag {tag}"],
                              [f"as of the {tag} release", f"on the {tag} tag"])
    if roll < 0.44:
        sha = ctx.rng.choice(v.SHAS)
        return sha, ctx.short([f"at {sha}", f"at commit {sha}"], [f"as of commit {sha}", f"at revision {sha}"])
    if roll < 0.78:
        spoken, glob = ctx.rng.choice(v.REF_GLOBS)
        return glob, ctx.pick([f"on {spoken}", f"across {spoken}", f"in {spoken}"])
    a, b = ctx.rng.sample(v.BRANCHES, 2)
    return f"{a}:{b}", ctx.short([f"on {a} and {b}"],
                                 [f"on both {a} and {b}", f"on the {a} and {b} branches", f"on {a} as well as {b}"])


#: (how people say a time back, the at.time date it becomes)
_AGO = [("two weeks ago", "2 weeks ago"), ("2 weeks ago", "2 weeks ago"), ("a month ago", "1 month ago"),
        ("three months ago", "3 months ago"), ("6 months ago", "6 months ago"), ("a year ago", "1 year ago"),
        ("a year and a half ago", "18 months ago"), ("three weeks ago", "3 weeks ago"),
        ("two years ago", "2 years ago"), ("10 days ago", "10 days ago"), ("nine months ago", "9 months ago"),
        ("a week ago", "1 week ago")]


def at_time(ctx: Ctx, d: Draft) -> None:
    """rev:at.time(...) needs a named repo and no repo predicate. A month or a year stands for its first day."""
    d.no_repo_predicates = True
    roll = ctx.rng.random()
    if roll < 0.35:  # "as of two weeks ago": a relative date, quoted because it has spaces
        spoken, ago = ctx.pick(_AGO)
        d.add(f'rev:at.time("{ago}")', _as_of(ctx, spoken, [f"as it stood {spoken}", f"the version from {spoken}",
                                                             f"what it looked like {spoken}"]))
        return
    if roll < 0.52:
        day = month_start(ctx.today, ctx.rng.randint(1, 12))
        day = day if ctx.chance(0.5) else day.replace(year=day.year - 1)
        month = (f"{day:%B}" if day > ctx.today.replace(year=ctx.today.year - 1) and ctx.chance(0.5)
                 else f"{day:%B} {day.year}")
        spoken = _as_of(ctx, month, [f"as it was in {month}", f"back in {month}", f"at the start of {month}"], "in")
    elif roll < 0.64:
        day, spoken = _season(ctx)
    elif roll < 0.74:
        year = ctx.today.year - ctx.rng.randint(0, 2)
        day = ctx.today.replace(year=year, month=1, day=1)
        said = ctx.pick([str(year), str(year)] + (["the year", "this year"] if year == ctx.today.year else []))
        spoken = ctx.pick([f"at the start of {said}", f"as of the beginning of {said}", f"as of January 1st {year}",
                           f"as it was at the start of {said}"])
    else:
        day = ctx.today - timedelta(days=ctx.rng.randint(7, 600))
        said = spoken_day(ctx, day)
        spoken = _as_of(ctx, said, [f"as the code was on {said}", f"as it stood on {said}", f"back on {said}"], "on")
    if ctx.chance(0.25):
        branch = ctx.rng.choice(v.BRANCHES)
        d.add(f"rev:at.time({day.isoformat()}, {branch})", ctx.pick([f"{branch} branch {spoken}",
                                                                      f"on {branch} {spoken}",
                                                                      f"at the state of {branch} {spoken}",
                                                                      f"the state of {branch} {spoken}",
                                                                      f"the {branch} branch, {spoken}"]))
    else:
        d.add(f"rev:at.time({day.isoformat()})", spoken)


#: season -> the month it starts in (northern hemisphere, as the team's calendar has it)
_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}


def _season(ctx: Ctx) -> tuple[date, str]:
    """(first day, phrase) of the last season that has ended: "as of last spring" in May 2026 is
    2025-03-01 ("in spring 2025" says the same with the year)."""
    season = ctx.rng.choice(list(_SEASONS))
    start = date(ctx.today.year, _SEASONS[season], 1)
    while start + timedelta(days=92) > ctx.today:
        start = start.replace(year=start.year - 1)
    if ctx.chance(0.6):
        return start, _as_of(ctx, f"last {season}", [f"as it was last {season}", f"back last {season}",
                                                     f"the way it was last {season}"])
    said = f"{season} {start.year}"
    return start, _as_of(ctx, said, [f"as it was in {said}", f"back in {said}", f"at the start of {said}"], "in")


def _as_of(ctx: Ctx, when: str, long: list[str], preposition: str = "") -> str:
    """"as of {when}" mostly; "as it was two weeks ago", "in March 2025", "on 2025-03-04" otherwise."""
    other = f"{preposition} {when}" if preposition else f"as it was {when}"
    return ctx.short([f"as of {when}", f"as of {when}", other], long + [f"how it looked {when}"])
