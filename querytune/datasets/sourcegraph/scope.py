"""Scope modifiers: repos, revisions, files, languages and search contexts, one filter and one fragment each."""
from __future__ import annotations

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, RepoRef, dots, lang_said
from querytune.datasets.sourcegraph.revisions import at_time, revision


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
                                     [f"across the {org} org", f"in all {org} repos",
                                      f"anywhere in {org}'s repositories", f"in every repo under {org}",
                                      f"org-wide at {org}"]))
        return
    if roll < 0.46:
        _several_repos(ctx, d)
        return
    _one_repo(ctx, d, allow_rev)


def repo_as_of(ctx: Ctx, d: Draft) -> None:
    """One named repo searched as it was at a date ("in billing as of last spring"); none where the
    draft already names repos."""
    if d.repo is None:
        _one_repo(ctx, d, allow_rev=False)
        at_time(ctx, d)


def _one_repo(ctx: Ctx, d: Draft, allow_rev: bool) -> None:
    full, mentions = ctx.rng.choice(v.REPOS)
    said = ctx.rng.choice(mentions)
    d.repo = RepoRef([full], [said])
    named = f"the {said}" if " " in said and ctx.chance(0.5) else said  # "in the linux kernel"
    phrase = ctx.short([f"in {named}", f"in {named}", f"in {said}", f"{said} repo", f"in {said} repo"],
                       [f"in the {said} repo", f"inside {named}", f"in the {said} repository",
                        f"within {named}", f"over in {named}", f"in {named}'s code", f"in the {said} codebase",
                        f"in {named} source", f"in our {said} code", f"for {said}", f"across {named}",
                        f"anywhere in {named}"])
    if allow_rev and ctx.chance(0.45):
        rev, spoken = revision(ctx)
        d.repo.rev, d.repo.rev_style = rev, "@" if ctx.chance(0.65) else "field"
        phrase = f"{phrase} {spoken}" if ctx.chance(0.8) else f"{spoken} of {said}"
        d.no_repo_predicates = True
    elif _repo_led(ctx, d, named):
        return
    d.fragments.append(phrase)


#: one named repo (no revision): share of the drafts that can take it whose request leads with the name
LED_SHARE = 0.35


def _repo_led(ctx: Ctx, d: Draft, said: str) -> bool:
    """The request said around the repo's bare name instead of a head ("grep django for X", "does
    next.js use X", "vscode commits by tom"), the way people name a project they know; only for
    intents whose head adds nothing that the name's words and the content do not say."""
    what = d.what
    if what.lower().startswith("where ") or not ctx.chance(LED_SHARE):
        return False
    if d.intent == "code" and what:
        forms = ctx.short([f"grep {said} for {what}", f"{said}: {what}", f"does {said} use {what}",
                           f"{what} in {said}", f"{said}: {what}", f"search {said} for {what}",
                           f"{what} in {said}", f"check {said} for {what}"],
                          [f"look in {said} for {what}", f"where does {said} use {what}",
                           f"does {said} have {what} anywhere", f"in {said}, find {what}",
                           f"find {what} in {said}", f"is there {what} in {said}", f"is {what} used in {said}",
                           f"dig through {said} for {what}"], 0.85)
    elif d.intent == "commit" and not what:
        forms = ctx.pick([f"{said} commits", f"commits in {said}", f"{said} commit history", f"{said} git log",
                          f"git log of {said}", f"{said} commits", f"commits to {said}", f"{said} commit log"])
    elif d.intent == "diff" and what:
        forms = ctx.pick([f"{said} diffs {what}", f"{said} changes {what}", f"diffs in {said} {what}",
                          f"changes in {said} {what}", f"{said} diffs {what}", f"{said} changes {what}",
                          f"code changes to {said} {what}", f"{said} code changes {what}"])
    else:
        return False
    d.what, d.bare = forms, True
    return True


def _several_repos(ctx: Ctx, d: Draft) -> None:
    """Two or three repos, mostly of one org (the candidates a user sees are their org's repos),
    named one by one or, when they are all the candidates, together ("in both repos")."""
    org = ctx.rng.choice(v.ORGS) if ctx.chance(0.7) else None
    pool = [r for r in v.COMPANY_REPOS if r[0].split("/")[1] == org] if org else v.REPOS
    picked = ctx.rng.sample(pool, 3 if ctx.chance(0.2) else 2)
    said = [ctx.rng.choice(mentions) for _, mentions in picked]
    d.repo = RepoRef([full for full, _ in picked], said)
    if ctx.chance(0.15):
        d.repo.collective = True
        d.fragments.append(_said_together(ctx, len(picked), org))
        return
    listed = _listed(ctx, said)
    d.fragments.append(ctx.short([f"in {listed}", listed, f"in {listed}", f"search {listed}", f"across {listed}"],
                                 [f"across {listed}", f"only in {listed}", f"over in {listed}", f"looking at {listed}",
                                  f"in the {listed} repos", f"within {listed}"]))


def _listed(ctx: Ctx, said: list[str]) -> str:
    """"payments and billing", "both the web app and the payments service", "auth, billing or web-app"."""
    said = [f"the {s}" if " " in s and ctx.chance(0.5) else s for s in said]
    *rest, last = said
    if len(said) == 2 and ctx.chance(0.3):
        return ctx.pick([f"both {rest[0]} and {last}", f"either {rest[0]} or {last}", f"{rest[0]} and {last} both",
                         f"either {rest[0]} or {last}"])
    joiner = ctx.pick([" and ", " or ", " as well as ", " plus ", " and ", " & "])
    return ", ".join(rest) + joiner + last


def _said_together(ctx: Ctx, count: int, org: str | None) -> str:
    """The named repos as a group; only said when they are exactly the candidates."""
    number = {2: "both", 3: "all three"}[count]
    kind = ctx.pick(["repos", "repositories", "services"] if org else ["repos", "repositories"])
    owner = f"{org} " if org and ctx.chance(0.5) else ""
    these = {2: "these two", 3: "these three"}[count]
    return ctx.pick([f"in {number} {owner}{kind}", f"across {number} {owner}{kind}",
                     f"in {number} of the {owner}{kind}", f"across {these} {kind}", f"in {these} {owner}{kind}",
                     f"{number} {owner}{kind}", f"in {number} candidate repos",
                     f"in each of the {count} {owner}{kind}"])


def exclude_repo(ctx: Ctx, d: Draft) -> None:
    """A repo to leave out; ``generate._resolve_repo`` writes the filter once candidates are drawn."""
    full, mentions = ctx.rng.choice(v.REPOS)
    said = ctx.rng.choice(mentions)
    d.excluded = RepoRef([full], [said])
    d.fragments.append(ctx.short([f"not {said}", f"not in {said}", f"minus {said}", f"except {said}",
                                  f"outside {said}", f"excluding {said}", f"ignore {said}", f"every repo except {said}",
                                  f"all repos but {said}", f"not the {said} repo", f"other than {said}",
                                  f"skip {said}"],
                                 [f"except in {said}", f"but not in {said}", f"skipping {said}",
                                  f"leaving out the {said} repo", f"everywhere except {said}", f"anywhere but {said}",
                                  f"ignoring the {said} repo", f"in every repo except {said}", f"outside of {said}",
                                  f"in any repo other than {said}", f"ignoring {said}", f"everywhere but {said}"]))


def fits_langs(d: Draft, regex: str) -> bool:
    """Whether a file regex can scope the draft's query: one that only matches another language's
    files would contradict its ``lang:`` ("the main.go files in Python") or its code snippet's language."""
    implied = v.IMPLIED_LANG.get(regex)
    langs = d.langs() or ({d.code_lang} if d.code_lang else set())
    return not implied or not langs or langs == {implied}


def file_scope(ctx: Ctx, d: Draft) -> str:
    """A file filter; with a language already chosen only folders and kinds of files, no extensions,
    and never a file of another language than the draft's code snippet ("async def in main.go")."""
    roll = ctx.rng.random() * (0.6 if {"lang", "-lang"} & d.fields() else 1.0)
    names = [n for n in v.FILE_NAMES if fits_langs(d, f"{dots(n)}$")]
    extensions = [x for x in v.EXTENSIONS if fits_langs(d, f"{dots(x)}$")]
    if roll < 0.4:
        regex, says = ctx.rng.choice([(r, s) for r, s in v.FILE_KINDS if fits_langs(d, r)])
        said = ctx.pick(says)
        if _merge_lang(ctx, d, said, regex):
            return d.fragments[d.lang_fragment]
        phrase = ctx.short([f"in {said}", f"in {said}", f"in {said}", f"{said} only"],
                           [f"in the {said}", f"inside {said}", f"across {said}", f"only in {said}"])
    elif roll < 0.6 or not names and not extensions:
        regex, phrase = _directory(ctx)
    elif roll < 0.8 and names or not extensions:
        name = ctx.rng.choice(names)
        regex = f"{dots(name)}$"
        phrase = ctx.short([f"in {name}", f"{name} only"], [f"in files named {name}", f"in the {name} files",
                                                           f"only in {name}"])
    else:
        ext = ctx.rng.choice(extensions)
        regex = f"{dots(ext)}$"
        phrase = ctx.short([f"in {ext} files", f"{ext} files only"], [f"in files ending in {ext}",
                                                                 f"in files with the {ext} extension"])
    d.file_specific = d.file_specific or regex in v.IMPLIED_LANG
    d.add(f"file:{regex}", phrase)
    return phrase


def _directory(ctx: Ctx) -> tuple[str, str]:
    """(file: regex, phrase) for a folder, anchored at the repo root or anywhere in the path."""
    directory = ctx.rng.choice(v.DIRECTORIES)
    if ctx.chance(0.5):
        return f"^{directory}/", ctx.short([f"under {directory}", f"under {directory}/"],
                                           [f"under the top-level {directory} folder", f"below {directory}"])
    return f"{directory}/", ctx.short([f"in {directory} dirs", f"in any {directory} dir"],
                                      [f"in any {directory} directory", f"in {directory} folders anywhere",
                                       f"in paths containing {directory}"])


_NEUTRAL_KINDS = ("test files", "config files", "spec files", "database migrations")


def _merge_lang(ctx: Ctx, d: Draft, said: str, regex: str) -> bool:
    """Half the time a neutral kind of file joins the language's words: "in Python test files"
    (lang:python file:test), the way people say it, instead of "in Python ... in test files"."""
    if said not in _NEUTRAL_KINDS or d.lang_fragment is None or not ctx.chance(0.5):
        return False
    lang = next(iter(d.langs()))
    kind = said.removeprefix("database ")
    d.fragments[d.lang_fragment] = ctx.pick([f"in {lang_said(ctx, lang)} {kind}", f"{lang_said(ctx, lang)} {kind}",
                                            f"in the {lang_said(ctx, lang)} {kind}"])
    d.params.append(f"file:{regex}")
    return True


def exclude_file(ctx: Ctx, d: Draft) -> None:
    """Files to leave out, said before or after the content ("ignore the tests, X", "X outside vendored code")."""
    said, regex = ctx.rng.choice([(s, r) for s, r in v.EXCLUSIONS if fits_langs(d, r)])
    the = said if said.startswith("the ") else f"the {said}"
    phrase = ctx.short([f"no {said}", f"not {said}", f"skip {said}", f"outside {said}", f"ignore {said}",
                        f"excluding {said}", f"not in {said}", f"minus {said}"],
                       [f"excluding {said}", f"but skip {said}", f"not in {said}", f"ignoring {said}",
                        f"skip {the}", f"leave out {said}", f"but not in {said}", f"other than {said}",
                        f"without {said}", f"don't include {said}", f"ignore {the}", f"outside of {said}"])
    if ctx.chance(0.25):
        d.add(f"NOT file:{regex}", phrase)
    else:
        d.add(f"-file:{regex}", phrase)


def lang_scope(ctx: Ctx, d: Draft, lang: str | None = None) -> None:
    """A language the request names: ``lang:`` ("in Go", "Python files", "SQL files"), except the
    languages people name by their file ("Dockerfiles"), which are a file filter. A draft with a
    code snippet names the snippet's language ("async def in Python", never "in Go")."""
    weights = [0 if name in v.FILE_NAMED_LANGS else 3 if i < 10 else 1 for i, (name, _) in enumerate(v.LANGUAGES)]
    lang = lang or d.code_lang or ctx.rng.choices([name for name, _ in v.LANGUAGES], weights)[0]
    if lang in v.FILE_NAMED_LANGS:
        said, regex = v.FILE_NAMED_LANGS[lang]
        d.file_specific = True
        d.add(f"file:{regex}", ctx.short([f"in {said}", f"{said} only"], [f"in the {said}", f"only in {said}"]))
        return
    said = lang_said(ctx, lang)
    kinds = [k for k, of_lang in v.LANG_FILES if of_lang == lang]
    short = [f"in {k}" for k in kinds] + [f"{said} files", f"{said} code", f"in {said} files", f"{said}",
                                          f"{said} only", f"in {said}", f"in {said}", f"in the {said} code",
                                          f"our {said}", f"in our {said}", f"{said} sources"]
    d.add(f"lang:{lang}", ctx.short(short, [f"in {said} code", f"written in {said}", f"in our {said} sources",
                                            f"just {said}", f"limited to {said}", f"only the {said} files",
                                            f"on the {said} side", f"anywhere in the {said} code",
                                            f"in {said} source files", f"across our {said} services"]))
    d.lang_fragment = len(d.fragments) - 1


#: languages a search leaves out; each pair of them is said the same way ("outside HTML and CSS")
_EXCLUDED_LANGS = ("javascript", "markdown", "json", "yaml", "typescript", "python", "java", "html", "css", "go",
                   "rust", "shell")
TWO_EXCLUDED_SHARE = 0.2  # exclusions of two languages at once: -lang:a -lang:b


def exclude_lang(ctx: Ctx, d: Draft) -> None:
    """One or two languages to leave out, never the one the draft's code snippet is written in; the
    negation said before or after the language, in the words people use ("outside", "ignore", "other than")."""
    langs = ctx.rng.sample([other for other in _EXCLUDED_LANGS if other != d.code_lang],
                           2 if ctx.chance(TWO_EXCLUDED_SHARE) else 1)
    said = " and ".join(lang_said(ctx, lang) for lang in langs) if ctx.chance(0.7) else \
        " or ".join(lang_said(ctx, lang) for lang in langs)
    d.add(f"-lang:{langs[0]}", ctx.short([f"no {said}", f"not {said}", f"outside {said}", f"not in {said}",
                                          f"excluding {said}", f"ignore {said}", f"skip {said}", f"minus {said}",
                                          f"except {said}", f"without {said}", f"ignoring {said}",
                                          f"except for {said}"],
                                         [f"but not in {said}", f"excluding {said} files", f"skip the {said} files",
                                          f"outside of {said} code", f"not written in {said}",
                                          f"other than {said} code", f"ignore {said} files", f"anything except {said}",
                                          f"leaving out {said}", f"in everything but {said}", f"no {said} files please",
                                          f"anywhere but the {said} code"]))
    d.params += [f"-lang:{lang}" for lang in langs[1:]]


def two_langs(ctx: Ctx, d: Draft) -> None:
    """Either of two languages; one of them the code snippet's, when the draft has one (a
    Dockerfile snippet is scoped by its file instead)."""
    if d.code_lang in v.FILE_NAMED_LANGS:
        return lang_scope(ctx, d)
    a, b = ctx.rng.sample([other for other in ("python", "go", "java", "typescript", "rust", "ruby", "kotlin", "c++")
                           if other != d.code_lang], 2)
    if d.code_lang:
        a, b = ctx.rng.sample([d.code_lang, a], 2)
    d.add(f"(lang:{a} OR lang:{b})", ctx.short([f"in {lang_said(ctx, a)} or {lang_said(ctx, b)}",
                                                f"{lang_said(ctx, a)} or {lang_said(ctx, b)}"],
                                               [f"in either {lang_said(ctx, a)} or {lang_said(ctx, b)} files"]))


def context_scope(ctx: Ctx, d: Draft) -> None:
    """A search context, said by its name (with or without the @), as a team's or a person's
    context ("acme's mobile context", "priya's oncall context"), before or after the content."""
    roll = ctx.rng.random()
    if roll < 0.5:
        name, said = _shared_context(ctx)
    elif roll < 0.88:
        name, said = _user_context(ctx)
    else:
        name, said = "global", ctx.pick(["global", "the global", "global", "the global"])
    d.add(f"context:{name}", ctx.short([f"{said} context", f"in {said} context", f"search {said} context",
                                        f"within {said} context", f"using {said} context", f"only {said} context",
                                        f"inside {said} context", f"under {said} context"],
                                       [f"in {said} search context", f"scoped to {said} context",
                                        f"using {said} search context", f"limited to {said} context",
                                        f"with {said} as the search context", f"look in {said} context",
                                        f"inside {said} search context", f"{said} search context only",
                                        f"restricted to {said} context", f"over {said} context"]))


def _shared_context(ctx: Ctx) -> tuple[str, str]:
    """(context name, how it is said): "the backend", "the @acme/mobile", "acme's mobile", "the acme/mobile"."""
    said, name = ctx.rng.choice(v.CONTEXTS)
    if not name.startswith("@"):
        return name, ctx.pick([said, name, f"the {name}", name])
    org, sub = name[1:].split("/")
    return name, ctx.pick([name, said, f"the {name}", name, f"{org}'s {sub}", f"the {name[1:]}", f"{org}'s {name}",
                           f"{org}'s {sub}"])


def _user_context(ctx: Ctx) -> tuple[str, str]:
    """(context name, how it is said) for a person's context, ``@user`` or one of theirs, ``@user/name``."""
    user = ctx.rng.choice(v.CONTEXT_USERS)
    if ctx.chance(0.6):
        return f"@{user}", ctx.pick([f"{user}'s", f"{user}'s", f"@{user}", f"the @{user}", f"{user}'s personal",
                                     f"@{user}'s", f"{user}'s own", f"{user}'s"])
    sub = ctx.rng.choice(v.USER_CONTEXTS)
    name = f"@{user}/{sub}"
    return name, ctx.pick([f"{user}'s {sub}", name, f"{user}'s {name}", name, f"{user}'s {sub}",
                           f"the {name}", f"{user}'s saved {sub}", f"{user}'s {sub}"])
