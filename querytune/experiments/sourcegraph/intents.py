"""The intents a row can have, each with its weight and the builder that fills its draft.

A builder picks the content (``datasets/sourcegraph/content.py``) and the scope, time and
option modifiers (``scope.py``, ``predicates.py``, ``options.py``) that fit its kind of result; ``_modifiers``
draws those independently and keeps at most ``MAX_MODIFIERS`` of them.
"""
from __future__ import annotations

import re
from typing import Callable

from querytune.datasets.sourcegraph import content, options, pieces, predicates, revisions, scope
from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, dots, lang_said

MAX_MODIFIERS = 3  # scope/option filters kept per row: most real queries are a pattern and 1-3 filters
THIRD_MODIFIER_SHARE = 0.15  # rows that drew 3+ modifiers keep all three this often, else two
AT_TIME_SHARE = 0.7  # one named repo without a revision: share searched as of a date (rev:at.time)
AS_OF = 0.12  # besides those, a repo scope drawn as one repo at a date ("in billing as of last spring")
BARE_SHARE = 0.28  # code requests that are only a name or a term, without modifiers or a head

#: a "where ..." clause around the content ("where we set X", "where 'x' comes from") -> just the content
WHERE_CLAUSE = re.compile(r"^where (we (set|read|handle|log|call) )?| (comes from|gets created)$", re.IGNORECASE)


def _modifiers(ctx: Ctx, d: Draft, scale: float = 1.0, repo: float = 0.26, file: float = 0.15,
               lang: float = 0.1, flags: bool = True) -> None:
    """Scope and option filters, each drawn independently; at most ``MAX_MODIFIERS`` of them are kept
    (a random subset), then applied in a fixed order so later ones can see earlier ones."""
    if d.lang:
        scope.lang_scope(ctx, d, d.lang)
    drawn = [(repo, "repo"), (AS_OF * repo, "as_of"), (0.055, "-repo"), (0.14, "repo_predicate"),
             (0 if d.lang else lang, "lang"), (0.012 if lang else 0, "two_langs"), (file, "file"), (0.11, "-file"),
             (0.15, "file_predicate"), (0.055, "-lang"), (0.06, "breadth")]
    if flags:
        drawn += [(0.12, "context"), (0.15, "repo_flags"), (0.035, "case"), (0.045, "count"), (0.035, "timeout"),
                  (0.04, "index")]
    fired = [name for probability, name in drawn if ctx.chance(probability * scale * ctx.scale.get(name, 1.0))]
    keep = MAX_MODIFIERS if ctx.chance(THIRD_MODIFIER_SHARE) else MAX_MODIFIERS - 1
    if len(fired) > keep:
        fired = ctx.rng.sample(fired, keep)
    for name, piece in _MODIFIERS:
        if name not in fired:
            continue
        if name == "repo_predicate" and d.no_repo_predicates:
            continue
        if name in ("lang", "two_langs", "-lang") and ({"lang", "-lang"} & d.fields() or d.file_specific):
            continue  # one language per request; "in main.go files, no Python" contradicts itself
        piece(ctx, d)
        if name == "repo":
            named = d.repo is not None and not d.repo.implicit and len(d.repo.fulls) == 1
            if named and not d.repo.rev and ctx.chance(AT_TIME_SHARE):
                revisions.at_time(ctx, d)


_MODIFIERS = [("repo", scope.named_repo), ("as_of", scope.repo_as_of), ("-repo", scope.exclude_repo),
              ("repo_predicate", predicates.repo_predicate), ("lang", scope.lang_scope), ("two_langs", scope.two_langs),
              ("file", scope.file_scope), ("-file", scope.exclude_file), ("file_predicate", predicates.file_predicate),
              ("-lang", scope.exclude_lang), ("context", scope.context_scope), ("repo_flags", options.repo_flags),
              ("case", options.case_flag), ("count", options.count_flag), ("timeout", options.timeout_flag),
              ("index", options.index_flag), ("breadth", options.breadth)]


def _code(ctx, d):
    if ctx.chance(BARE_SHARE):  # a search-box request: just the thing ("RegisterSpan", "grpc timeout")
        content.BUILD[ctx.rng.choice(["ident", "term", "topic"])](ctx, d)
        d.bare = True
        return
    content.content_code(ctx, d)
    _modifiers(ctx, d)


def _simple_content(ctx: Ctx, d: Draft) -> None:
    """Content for result-shape intents: one identifier, term, snippet or phrase."""
    kind = ctx.rng.choices(["ident", "lang_code", "concept", "term", "message", "topic", "or", "regex"],
                           [4, 3, 2, 2, 2.2, 1, 1, 0.6])[0]
    content.BUILD[kind](ctx, d)
    if d.what.lower().startswith("where "):
        d.what = WHERE_CLAUSE.sub("", d.what)  # "files with X", not "files with where we set X"


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
    word = ctx.rng.choice(["sdk", "terraform", "billing", "infra", "docs", "api", "mobile", "cli", "ml", "etl",
                           "helm", "operator", "plugin", "proxy", "dashboard", "bot", "template", "monorepo"])
    d.what, d.pattern = word, word
    d.params.append("type:repo")
    if ctx.chance(0.3):
        options.repo_flags(ctx, d)


def _family(param: str) -> str:
    """What a repo condition constrains: two of one family would repeat a once-only field
    (``select:``) or contradict each other (two commit dates)."""
    return "commit" if "commit" in param else param.lstrip("-").split("(")[0]


def _repo_list(ctx, d):
    d.what = predicates.repo_predicate(ctx, d, as_subject=True)
    if ctx.chance(0.2):
        params, pattern = list(d.params), d.pattern
        second = predicates.repo_predicate(ctx, d, as_subject=True)
        repeated = {_family(x) for x in d.params[len(params):]} & {_family(x) for x in params}
        if repeated or pattern and d.pattern != pattern:
            d.params, d.pattern = params, pattern
        else:
            d.what += ctx.pick([" and ", " but also ", ", and "]) + second
    if ctx.chance(0.3):
        org = ctx.rng.choice(v.ORGS)
        d.what += " " + ctx.pick([f"in {org}", f"under {org}", f"at {org}", f"in the {org} org"])
        d.params.append(f"repo:{org}/")
    if ctx.chance(0.15):
        options.repo_flags(ctx, d)
    if ctx.chance(0.1):
        options.count_flag(ctx, d)


def _file_list(ctx, d):
    """Files of a kind: spelled as a path or file name ("Dockerfiles") -> file:, named by their
    language ("SQL files") -> lang:."""
    if ctx.chance(0.3):
        d.what, lang = ctx.rng.choice(v.LANG_FILES)
        d.params.append(f"lang:{lang}")
    else:
        regex, says = ctx.rng.choice(v.FILE_KINDS)
        d.what = ctx.pick(says)
        d.params.append(f"file:{regex}")
        d.file_specific = regex in v.IMPLIED_LANG
    _modifiers(ctx, d, 0.6, file=0.0, lang=0.0 if d.file_specific else 0.15)


#: language -> the symbol kinds its code has (``select:symbol.<kind>``): no Python structs, no Go classes
SYMBOL_LANG_KINDS = {
    "go": ["function", "method", "struct", "interface", "constant", "variable", "field", "package"],
    "python": ["function", "class", "method", "variable", "module"],
    "typescript": ["function", "class", "interface", "enum", "method", "property", "variable", "constant", "namespace"],
    "javascript": ["function", "class", "method", "variable", "constant", "property"],
    "java": ["class", "interface", "enum", "method", "field", "constructor", "package", "enum-member"],
    "rust": ["function", "struct", "enum", "module", "constant", "field", "method"],
    "ruby": ["class", "module", "method", "constant"],
    "c++": ["class", "struct", "function", "method", "namespace", "enum", "field"],
    "c": ["function", "struct", "enum", "variable"],
    "c#": ["class", "interface", "struct", "enum", "method", "property", "namespace", "field", "constructor"],
    "kotlin": ["class", "interface", "function", "property", "enum"],
    "swift": ["class", "struct", "enum", "function", "method", "property"],
    "php": ["class", "interface", "function", "method", "constant", "namespace"],
}
SYMBOL_KIND_SHARE = 0.6  # symbol requests that name a kind ("functions called X"), else the name alone
SYMBOL_LANG_SHARE = 0.65  # of those, share that name a language: "go functions called X" needs lang:go
SYMBOL_ADJECTIVE_SHARE = 0.6  # the language said before the kind ("Python classes"), else as a scope ("in Python")
SYMBOL_BARE_SHARE = 0.4  # requests with kind and language typed without a head ("rust structs containing Options")
_SNAKE_CASE = {"python", "ruby", "rust", "c"}  # languages whose functions and variables are snake_case
_TYPE_KINDS = {"class", "struct", "interface", "enum", "constructor", "namespace", "module", "package"}


def _symbol(ctx, d):
    d.params.append("type:symbol")
    if not ctx.chance(SYMBOL_KIND_SHARE):
        d.what = d.pattern = ctx.rng.choice(v.TYPES + v.FUNCTIONS[::3] + v.CONSTANTS[::4])
    elif ctx.chance(SYMBOL_LANG_SHARE):
        _symbol_in_lang(ctx, d)
    else:
        spoken, kind = ctx.rng.choice(v.SYMBOL_KINDS)
        d.params.append(f"select:symbol.{kind}")
        d.what = _symbol_said(ctx, d, kind, spoken, ctx.rng.choice(v.TYPES + v.FUNCTIONS[::3]), "")
    # a kind keeps the language it was drawn with (none, or one that has it: no Python structs); a kind and
    # a language are already three filters, so fewer modifiers join them
    kind, lang = "select" in d.fields(), bool(d.lang or d.langs())
    _modifiers(ctx, d, 0.5 if kind and lang else 0.8, file=0.1, lang=0.0 if kind else 0.25, flags=False)
    if ctx.chance(0.05):
        options.count_flag(ctx, d)


def _symbol_in_lang(ctx: Ctx, d: Draft) -> None:
    """A kind of symbol of one language, the language said before the kind ("Go structs named X")
    or as its own scope ("structs named X in Go", which ``_modifiers`` writes from ``d.lang``)."""
    langs = list(SYMBOL_LANG_KINDS)
    lang = ctx.rng.choices(langs, [3 if i < 7 else 1 for i in range(len(langs))])[0]
    kind = ctx.rng.choice(SYMBOL_LANG_KINDS[lang])
    spoken = dict((k, s) for s, k in v.SYMBOL_KINDS)[kind]
    d.params.append(f"select:symbol.{kind}")
    if ctx.chance(SYMBOL_ADJECTIVE_SHARE):
        d.params.append(f"lang:{lang}")
        d.what = _symbol_said(ctx, d, kind, spoken, _symbol_name(ctx, kind, lang), lang_said(ctx, lang) + " ")
        d.bare = ctx.chance(SYMBOL_BARE_SHARE)
    else:
        d.lang = lang
        d.what = _symbol_said(ctx, d, kind, spoken, _symbol_name(ctx, kind, lang), "")


def _symbol_said(ctx: Ctx, d: Draft, kind: str, spoken: str, name: str, adjective: str) -> str:
    """A kind of symbol named whole ("the Go struct Options") or by a part of its name ("classes with
    Handler in the name"): symbol search matches a part of a name, so the part is the pattern."""
    singular = kind.replace("-", " ")
    if ctx.chance(0.3):
        part = ctx.rng.choice(v.NOUNS + (v.TYPE_SUFFIXES if kind in _TYPE_KINDS else []))
        d.pattern = part
        return ctx.pick([f"{adjective}{spoken} with {part} in the name", f"{adjective}{spoken} containing {part}",
                         f"{adjective}{spoken} whose name contains {part}",
                         f"{adjective}{spoken} with {part} in their names"])
    d.pattern = name
    return ctx.pick([f"the {adjective}{singular} {name}", f"{adjective}{spoken} named {name}",
                     f"{adjective}{spoken} called {name}", f"the {name} {adjective}{singular}",
                     f"{adjective}{singular} {name}", f"{adjective}{spoken} named like {name}"])


def _symbol_name(ctx: Ctx, kind: str, lang: str) -> str:
    """A name spelled the way code of that language spells that kind: types CamelCase, packages
    lowercase, constants UPPER_CASE, Go's exported functions CamelCase, Python, Ruby, Rust and C ones
    snake_case."""
    if kind == "package" or kind == "module" and lang in ("python", "rust"):
        return ctx.rng.choice(v.NOUNS).lower()
    if kind in _TYPE_KINDS or kind == "enum-member":
        return ctx.rng.choice(v.TYPES)
    if kind == "constant":
        return ctx.rng.choice(v.CONSTANTS)
    verb, noun = ctx.rng.choice(v.VERB_NOUNS)
    if kind in ("variable", "field", "property"):
        verb, noun = noun.lower(), ctx.rng.choice(v.TYPE_SUFFIXES)
    if lang in _SNAKE_CASE:
        return f"{verb}_{noun.lower()}"
    return (verb.capitalize() if lang == "go" and ctx.chance(0.6) else verb) + noun


def _changed_file(ctx: Ctx, d: Draft) -> str:
    """A file filter for commits and diffs, returning the files as said: a kind of file
    ("Dockerfiles", "go.mod"), a file name or a folder ("files under deploy/"), never a file of
    another language than the draft's."""
    roll = ctx.rng.random()
    names = [n for n in v.FILE_NAMES if scope.fits_langs(d, f"{dots(n)}$")]
    if roll < 0.75 or not names:
        regex, says = ctx.rng.choice([(r, s) for r, s in v.FILE_KINDS if scope.fits_langs(d, r)])
        said = ctx.pick(says)
    elif roll < 0.9:
        said = ctx.rng.choice(names)
        regex = f"{dots(said)}$"
    else:
        directory = ctx.rng.choice(v.DIRECTORIES)
        regex, said = f"^{directory}/", ctx.pick([f"files under {directory}/", f"anything under {directory}/",
                                                   f"the {directory} folder"])
    d.file_specific = d.file_specific or regex in v.IMPLIED_LANG
    d.params.append(f"file:{regex}")
    return f"the {said}" if ctx.chance(0.3) and not said.startswith(("the ", "files ", "anything ")) else said


def _touching(ctx: Ctx, said: str) -> str:
    """How a change is said to touch files: "touching go.mod", "that changed the Dockerfiles", "in ..."."""
    return ctx.short([f"touching {said}", f"that changed {said}", f"in {said}", f"to {said}", f"that touch {said}"],
                     [f"that touched {said}", f"which modified {said}", f"changing {said}", f"that edited {said}",
                      f"affecting {said}", f"made to {said}"])


def _commit_scope(ctx: Ctx, d: Draft, time: float = 0.55, file: float = 0.15) -> None:
    if ctx.chance(0.35):
        scope.named_repo(ctx, d, allow_rev=ctx.chance(0.4))
        if d.repo and not d.repo.implicit and len(d.repo.fulls) == 1 and not d.repo.rev and ctx.chance(0.15):
            head, base = ctx.rng.sample(v.BRANCHES[:8] + v.TAGS[:3], 2)
            d.repo.rev, d.repo.rev_style = f"{head}:^{base}", "@" if ctx.chance(0.7) else "field"
            d.fragments.append(ctx.pick([f"on {head} but not in {base}", f"that are on {head} and not yet in {base}",
                                         f"reachable from {head} but not from {base}"]))
    if d.lang:  # the content's language ("diffs touching goroutines in Go")
        scope.lang_scope(ctx, d, d.lang)
    elif ctx.chance(0.06) and not d.langs() and not d.file_specific:
        scope.lang_scope(ctx, d)
    if ctx.chance(file):  # after the language, so it can keep to that language's files
        d.fragments.append(_touching(ctx, _changed_file(ctx, d)))
    if ctx.chance(0.05):
        scope.exclude_file(ctx, d)  # "diffs to the billing code, no tests"
    if ctx.chance(time):
        options.dates_piece(ctx, d)
    if ctx.chance(0.05):
        options.count_flag(ctx, d)


WHO_CHANGED_SHARE = 0.1  # commit requests asking who changed a file ("who touched go.mod?"): the author is the answer


def _commit(ctx, d):
    d.params.append("type:commit")
    if ctx.chance(WHO_CHANGED_SHARE):  # a question typed as is: the head would say "commits" twice
        said = _changed_file(ctx, d)
        d.what, d.bare = ctx.pick([f"who touched {said}", f"who changed {said}", f"who last edited {said}",
                                   f"who modified {said}", f"who has been changing {said}"]), True
        _commit_scope(ctx, d, file=0.0)
        return
    if ctx.chance(0.55):
        options.author_piece(ctx, d)
    if ctx.chance(0.15):
        options.author_piece(ctx, d, committer=True)
    if ctx.chance(0.45) or len(d.params) == 1:
        options.message_piece(ctx, d)
    _commit_scope(ctx, d)


DIFF_FILE_ONLY_SHARE = 0.2  # diffs asked for by the files they change alone ("diffs to go.mod"): no pattern


def _diff(ctx, d):
    d.params.append("type:diff")
    if ctx.chance(DIFF_FILE_ONLY_SHARE):
        d.what = _touching(ctx, _changed_file(ctx, d))
    else:
        _simple_content(ctx, d)
        d.what = ctx.pick([f"touching {d.what}", f"that mention {d.what}", f"involving {d.what}", f"with {d.what}",
                           f"around {d.what}", f"that changed {d.what}"])
        if ctx.chance(0.08):
            d.params.append("select:commit.diff")
            d.fragments.append(ctx.pick(["full diffs please", "show the whole diff", "with the diff hunks"]))
    if ctx.chance(0.3):
        options.author_piece(ctx, d)
    if ctx.chance(0.08):
        options.author_piece(ctx, d, committer=True)
    if ctx.chance(0.1):
        options.message_piece(ctx, d)
    _commit_scope(ctx, d, file=0.15 if d.pattern else 0.0)


def _diff_select(value: str) -> Callable:
    def build(ctx, d):
        d.params += ["type:diff", f"select:{value}"]
        _simple_content(ctx, d)
        if ctx.chance(0.15):
            options.author_piece(ctx, d)
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
        d.fragments.append(ctx.pick([f"in {pieces.lang_said(ctx, lang)}", f"{pieces.lang_said(ctx, lang)} code"]))
    _modifiers(ctx, d, 0.5, lang=0.0, flags=False)


def _nls(ctx, d):
    """The nls pattern is the thing described, as said ("tls certificate reload"): the head ("plain-language
    search") and the question's framing ("code that implements", "how we handle") are request words, not
    search words, whatever the template. NLS ranks by the content words, so a user types those."""
    spoken, _ = ctx.rng.choice(v.TOPICS)
    d.what = spoken if ctx.chance(0.3) else ctx.pick([f"how we handle {spoken}", f"how {spoken} works",
                                                      f"code that implements {spoken}", f"the {spoken} logic",
                                                      f"anything about {spoken}", f"our {spoken} code"])
    d.pattern = spoken
    d.params.append("patterntype:nls")
    if ctx.chance(0.3):
        scope.named_repo(ctx, d, allow_rev=False)


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
#: the modifiers ``_modifiers`` draws, by name (``generate(modifier_scale=...)`` scales their chances)
MODIFIERS = [name for name, _ in _MODIFIERS]
INTENTS = sorted(_INTENTS)
WEIGHTS = [_INTENTS[i][0] for i in INTENTS]
BUILDERS = {name: builder for name, (_, builder) in _INTENTS.items()}
