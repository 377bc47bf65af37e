"""Repo and file predicates: repos by what they hold, their activity, description, metadata and
topics (``repo:has.*``), and files by owner, contributor or other content (``file:has.*``).

A repo predicate is a verb phrase ("have Dockerfiles"), so repo-list heads can say "which repos
have Dockerfiles?"; as a scope it is also said as a kind of repo ("in repos tagged kubernetes",
"in repos with a Dockerfile"), the way people name a set of repos.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, pattern_token, regex_escape

NOUN_SHARE = 0.4  # repo scopes said as a kind of repo ("in repos tagged cli") rather than "in repos that ..."
KEY_SHARE = 0.3  # metadata conditions said as a bare key ("with the sla metadata key") rather than a key and value


def repo_predicate(ctx: Ctx, d: Draft, as_subject: bool = False) -> str:
    """A repo predicate (or its legacy field); returns its phrase ('have a Dockerfile') for repo_list heads.

    As the subject ("which repos mention X", "repos with test files that mention X") code content is
    ``select:repo`` and the pattern, as in ``select_repo``: one form for listing repos by their code.
    ``repo:has.content``/``repo:has.file`` only scope another search ("Y in repos that mention X")."""
    kinds = ["path", "-path", "repohasfile", "file", "content", "commit", "-commit", "repohascommitafter",
             "description", "meta", "topic"]
    # as a scope, code content is drawn more often (the only place it is a predicate), but not
    # where the repos are listed (``select:repo``): there it would be a second way to say the pattern
    code = 1 if as_subject else 0 if "select:repo" in d.params else 4
    weights = [1.1, 1.1, 0 if "type:symbol" in d.params else 1.1, code, code, 1.2, 1, 1.1, 1.2, 1.5, 1.5]
    kind = ctx.rng.choices(kinds, weights)[0]
    if kind in ("file", "content"):
        param, phrase, nouns = *_code_condition(ctx, d, kind, as_subject), []
    else:
        param, phrase, nouns = _KINDS[kind](ctx, kind)
    d.params.append(param)
    if not as_subject:
        d.fragments.append(_scope_phrase(ctx, phrase, nouns))
    return phrase


def _scope_phrase(ctx: Ctx, phrase: str, nouns: list[str]) -> str:
    if nouns and ctx.chance(NOUN_SHARE):
        return ctx.pick(nouns)
    return ctx.short([f"in repos that {phrase}", f"repos that {phrase}"],
                     [f"only in repositories that {phrase}", f"limited to repos that {phrase}"], 0.8)


def one_of(said: str) -> str | None:
    """One file of a kind people name in the plural: "Dockerfiles" -> "a Dockerfile", "OpenAPI specs"
    -> "an OpenAPI spec"; None where there is no plain singular ("the .proto files", "files ending in .tf").

    >>> one_of("Dockerfiles"), one_of("OpenAPI specs"), one_of("the .sql files")
    ('a Dockerfile', 'an OpenAPI spec', None)
    """
    if said.startswith(("the ", "files ")) or not said.endswith("s"):
        return None
    return ("an " if said[0] in "aeiouAEIOU" else "a ") + said[:-1]


def _path(ctx: Ctx, kind: str) -> tuple[str, str, list[str]]:
    said, regex = ctx.rng.choice(v.FILES)
    one = one_of(said) or said
    if kind == "-path":
        return (f"-repo:has.path({regex})",
                ctx.pick([f"don't have {said}", f"are missing {said}", f"lack {said}", f"have no {said}",
                          f"don't have {one}", f"still lack {one}", f"have no {one} yet", f"lack {one}"]),
                [f"in repos without {one}", f"in repos with no {said}", f"in every repo that lacks {one}",
                 f"in any repo missing {one}"])
    param = f"repo:has.path({regex})" if kind == "path" else f"repohasfile:{regex}"
    return (param, ctx.pick([f"have {said}", f"contain {said}", f"include {said}", f"have {one}", f"come with {one}",
                             f"have {one} checked in", f"contain {one}", f"ship {said}", f"ship {one}"]),
            [f"in repos with {one}", f"in repos that have {one}", f"in every repo with {one}",
             f"in repos containing {one}", f"in any repo with {said}", f"in repos with {said}"])


def _code_condition(ctx: Ctx, d: Draft, kind: str, as_subject: bool) -> tuple[str, str]:
    """Repos whose code (or a kind of file in them) mentions a term: a predicate as a scope; as the
    subject, ``select:repo`` with the term as the pattern (and the kind of file as ``file:``)."""
    term = ctx.rng.choice(v.TERMS)
    if kind == "content":
        phrase = ctx.pick([f"mention {term} somewhere", f"contain {term} anywhere", f"reference {term} at all"])
        param = f"repo:has.content({regex_escape(term)})"
    else:
        said, regex = ctx.rng.choice(v.FILES)
        phrase = ctx.pick([f"have {said} mentioning {term}", f"have {said} that contain {term}",
                           f"contain {said} with {term} in them"])
        param = f"repo:has.file(path:{regex} content:{regex_escape(term)})"
    if not as_subject:
        return param, phrase
    d.pattern = pattern_token(term)
    if kind == "file":
        d.file_specific = True
        d.params.append(f"file:{regex}")
    return "select:repo", phrase


class _Phrases(NamedTuple):
    """How a predicate is said, each a template with one named slot for what it names: verb phrases
    short and long (drawn as ``ctx.short`` draws them) and scope nouns (``_scope_phrase`` draws one)."""

    short: list[str]
    long: list[str]
    nouns: list[str]


def _phrased(ctx: Ctx, param: str, phrases: _Phrases, **said: str) -> tuple[str, str, list[str]]:
    """(param, verb phrase, scope nouns) with ``said`` filled in: one body for every predicate said
    from a phrase table, so its phrasings are data and their draws come in one order."""
    short, long, nouns = ([template.format(**said) for template in templates] for templates in phrases)
    return param, ctx.short(short, long), nouns


_STALE = _Phrases(["had no commits in {spoken}", "saw no commits in {spoken}",
                   "haven't been touched in {spoken}", "got no commits in {spoken}"],
                  ["have had no commits in {spoken}", "went stale, nothing committed in {spoken}",
                   "have been stale for {spoken}", "have gone {spoken} without a commit",
                   "nobody has pushed to in {spoken}", "are stale, with nothing committed for {spoken}"],
                  ["in repos with no commits in {spoken}", "in repos nobody touched in {spoken}",
                   "in stale repos, nothing committed in {spoken}", "in repos untouched for {spoken}",
                   "in stale repos, no commits in {spoken}", "in repos with nothing pushed in {spoken}"])
_ACTIVE = _Phrases(["had commits in {spoken}", "saw activity in {spoken}", "were active in {spoken}"],
                   ["are still active, with commits in {spoken}", "got pushed to in {spoken}"],
                   ["in repos with commits in {spoken}", "in repos active in {spoken}",
                    "in repos that got commits in {spoken}"])


def _commit(ctx: Ctx, kind: str) -> tuple[str, str, list[str]]:
    """Repos by whether they had commits in a recent span ("stale for 6 months": ``-repo:has.commit.after``)."""
    n = ctx.rng.randint(2, 11)
    when, spoken = ctx.pick([(f"{n} months ago", f"the last {n} months"), ("1 year ago", "the past year"),
                             ("1 year ago", "a year"), ("1 month ago", "the last month"),
                             (f"{n} months ago", f"{n} months"), (f"{n} weeks ago", f"the past {n} weeks"),
                             ("1 year ago", "over a year"), ("1 month ago", "a month")])
    if kind == "-commit":
        return _phrased(ctx, f"-repo:has.commit.after({when})", _STALE, spoken=spoken)
    param = f'repohascommitafter:"{when}"' if kind == "repohascommitafter" else f"repo:has.commit.after({when})"
    return _phrased(ctx, param, _ACTIVE, spoken=spoken)


_DESCRIBED = _Phrases(["are described as {desc}", "say {desc} in their description",
                       "mention {desc} in their description", "have {desc} in the description"],
                      ["describe themselves as a {desc}", "have {desc} in their description",
                       "have a description that mentions {desc}", "list {desc} in their description",
                       "have a description saying {desc}", "call themselves a {desc} in the description"],
                      ["in repos described as {desc}", "in repos whose description says {desc}",
                       "in repos whose description mentions {desc}", "in repos with a description mentioning {desc}",
                       "in repos with {desc} in the description", "in any repo whose description has {desc}"])


def _description(ctx: Ctx, kind: str) -> tuple[str, str, list[str]]:
    """Repos by the words of their description (as a scope or listed: the predicate, never ``select:repo``)."""
    desc = ctx.rng.choice(v.DESCRIPTIONS)
    return _phrased(ctx, f"repo:has.description({desc})", _DESCRIBED, desc=desc)


def _meta(ctx: Ctx, kind: str) -> tuple[str, str, list[str]]:
    spoken, arg = _meta_key(ctx) if ctx.chance(KEY_SHARE) else ctx.rng.choice(v.META)
    neg = ctx.chance(0.25)
    has = re.sub(r"^(with|that have) ", "", spoken)  # "with an oncall key set" -> "an oncall key set"
    if has != spoken:  # "repos that have an oncall key set", not "repos that are with ..."
        phrase = f"don't have {has}" if neg else f"have {has}"
    else:
        phrase = f"are not {spoken}" if neg else f"are {spoken}"
    every = [] if spoken.startswith("that ") else [f"in every repo {spoken}"]  # not "every repo that have"
    return f"{'-' if neg else ''}repo:has.meta({arg})", phrase, [] if neg else [f"in repos {spoken}", *every]


_UNTAGGED = _Phrases(["aren't tagged {topic}"], ["aren't tagged with the {topic} topic", "lack the {topic} topic"],
                     ["in repos not tagged {topic}", "outside the {topic}-tagged repos"])
_TAGGED = _Phrases(["are tagged {topic}", "have topic {topic}", "are tagged with {topic}"],
                   ["have the {topic} topic", "carry the GitHub topic {topic}"],
                   ["in repos tagged {topic}", "in {topic}-tagged repos", "in repos with the {topic} topic",
                    "in repos tagged as {topic}"])


def _topic(ctx: Ctx, kind: str) -> tuple[str, str, list[str]]:
    """Repos by a GitHub topic, a fifth of them by its absence (``-repo:has.topic``)."""
    topic = ctx.rng.choice(v.TOPICS_GH)
    if ctx.chance(0.2):
        return _phrased(ctx, f"-repo:has.topic({topic})", _UNTAGGED, topic=topic)
    return _phrased(ctx, f"repo:has.topic({topic})", _TAGGED, topic=topic)


def _meta_key(ctx: Ctx) -> tuple[str, str]:
    """A bare metadata key said as a key ("with the deprecated metadata key"): ``has.meta(K)`` is
    the key being set, whatever its value."""
    key = ctx.rng.choice(v.META_KEYS)
    return ctx.pick([f"with the {key} metadata key", f"that have a {key} key in their metadata",
                     f"with {key} set in their metadata", f"that have the {key} key set",
                     f"with a {key} metadata key", f"that have {key} in their metadata"]), key


_KINDS = {"path": _path, "-path": _path, "repohasfile": _path, "commit": _commit, "-commit": _commit,
          "repohascommitafter": _commit, "description": _description,
          "meta": _meta, "topic": _topic}


def file_predicate(ctx: Ctx, d: Draft) -> None:
    """Files by owner, contributor, or another text they hold besides the pattern."""
    roll = ctx.rng.random()
    if roll < 0.25:
        team = ctx.rng.choice(v.TEAMS)
        d.add(f"file:has.owner({team})", ctx.short([f"owned by {team}", f"in {team}'s files", f"that {team} owns",
                                                    f"in files {team} owns"],
                                                   [f"in files owned by {team}", f"in code that {team} owns",
                                                    f"with {team} as the code owner",
                                                    f"where {team} is the code owner"]))
    elif roll < 0.47:
        d.add("-file:has.owner()", ctx.short(["in unowned files", "with no code owner", "in files with no owner"],
                                             ["in files nobody owns", "in files without a code owner",
                                              "where no one is listed as owner"]))
    elif roll < 0.77:
        _contributor(ctx, d)
    else:
        term = ctx.rng.choice(v.TERMS)
        d.add(f"file:has.content({regex_escape(term)})",
              ctx.short([f"in files mentioning {term}", f"in files also with {term}", f"in files that also have {term}",
                         f"in files also mentioning {term}"],
                        [f"in files that also mention {term}", f"in files that reference {term} too",
                         f"only in files that contain {term} too", f"in files which reference {term} as well"]))


def _contributor(ctx: Ctx, d: Draft) -> None:
    name = ctx.rng.choice(v.FIRST_NAMES)
    if ctx.chance(0.3):
        d.add(f"-file:has.contributor({name})", ctx.short([f"in files {name} never touched"],
                                                          [f"in files {name} never touched",
                                                           f"in files {name} hasn't contributed to"]))
        return
    d.add(f"file:has.contributor({name})",
          ctx.short([f"in files {name} touched", f"in {name}'s files", f"in files {name} edited",
                     f"files {name} worked on"],
                    [f"in files {name} has contributed to", f"in files that {name} worked on",
                     f"in files {name} has committed to", f"in files with commits from {name}"]))
