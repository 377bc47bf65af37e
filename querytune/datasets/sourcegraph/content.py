"""Content builders: the pattern a request searches for, phrased as a noun phrase in ``Draft.what``."""
from __future__ import annotations

import re

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.idioms import idiom
from querytune.datasets.sourcegraph.names import spoken_ident
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, lang_said, pattern_token, regex_escape, say_code


def identifier(ctx: Ctx) -> tuple[str, str]:
    """(identifier, a noun phrase naming it)."""
    kind = ctx.rng.random()
    if kind < 0.4:
        name = ctx.rng.choice(v.FUNCTIONS)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, name, f"calls to {name}",
                                                                        f"the {name} function", f"uses of {name}",
                                                                        f"{name} calls", f"references to {name}",
                                                                        f"where we call {name}", f"callers of {name}",
                                                                        f"anything calling {name}"])
    if kind < 0.7:
        name = ctx.rng.choice(v.TYPES)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, name, f"the {name} type",
                                                                        f"usages of {name}", f"references to {name}",
                                                                        f"{name} instances", f"code that uses {name}",
                                                                        f"where {name} gets created"])
    if kind < 0.85:
        name = ctx.rng.choice(v.CONSTANTS)
        return name, ctx.pick([name]) if ctx.chance(0.7) else ctx.pick([name, f"the {name} constant",
                                                                        f"the {name} env var", f"reads of {name}",
                                                                        f"{name} settings", f"where we read {name}"])
    if kind < 0.95:
        name = ctx.rng.choice(v.FLAGS_NAMES)
        return name, ctx.pick([name, f"the {name} flag", f"the {name} feature flag", f"checks of {name}",
                               f"the flag {name}"])
    name = ctx.rng.choice(v.HEADERS)
    return name, ctx.pick([name, f"the {name} header", f"where we set {name}", f"reads of the {name} header"])


def simple_term(ctx: Ctx, d: Draft) -> tuple[str, str]:
    """(query term, spoken) for a short thing to combine with OR/AND/NOT."""
    roll = ctx.rng.random()
    if roll < 0.45:
        term = ctx.rng.choice(v.TERMS)
        return pattern_token(term), term
    if roll < 0.75:
        name, _ = identifier(ctx)
        return name, name
    code = any_code(ctx, d)
    return pattern_token(code), say_code(ctx, code)


def any_code(ctx: Ctx, d: Draft) -> str:
    """A code snippet, of the draft's snippet language once it has one (a Python and a Go snippet
    in one query leave no language to filter on); else the language is drawn first (each is as
    likely, however many snippets it has) and recorded in ``d.code_lang``."""
    d.code_lang = d.code_lang or ctx.rng.choice(list(v.CODE))
    return ctx.rng.choice(v.CODE[d.code_lang])


def _terms(ctx: Ctx, d: Draft, n: int) -> list[tuple[str, str]] | None:
    """``n`` distinct simple terms, or None (and no snippet language) when two of them repeat."""
    terms = [simple_term(ctx, d) for _ in range(n)]
    if len({term for term, _ in terms}) < n:
        d.code_lang = None
        return None
    return terms


#: content kind -> its default weight in ``content_code`` (``generate(content_weights=...)`` replaces it); a
#: kind weighted 0 sits where it is, so the other kinds are drawn from the same numbers as without it
CONTENT_WEIGHTS = {"ident": 19, "lang_code": 16, "concept": 18, "topic": 11, "message": 15, "term": 6, "regex": 19,
                   "regexp_mode": 24, "literal": 15, "phrase": 10, "standard": 8, "keyword_mode": 2.5, "or": 7,
                   "and": 8.5, "not": 5, "group": 2, "content": 8, "neg_content": 9, "spoken_ident": 8,
                   "idiom": 26}


def content_code(ctx: Ctx, d: Draft) -> None:
    """A pattern of some kind, phrased as a noun phrase in ``d.what``."""
    weights = [ctx.content_weights.get(kind, weight) for kind, weight in CONTENT_WEIGHTS.items()]
    BUILD[ctx.rng.choices(list(CONTENT_WEIGHTS), weights)[0]](ctx, d)


def _ident(ctx, d):
    name, spoken = identifier(ctx)
    d.what, d.pattern = spoken, name


def _lang_code(ctx, d):
    code = any_code(ctx, d)
    said = say_code(ctx, code)
    d.what = said if ctx.chance(0.7) else ctx.pick([said, f"uses of {said}", f"code with {said}", f"{said} usages",
                                                    f"occurrences of {said}", f"anything using {said}",
                                                    f"places that call {said}"])
    d.pattern = pattern_token(code)
    if ctx.chance(0.6):
        d.lang = d.code_lang


def _concept(ctx, d):
    """A construct named in words ("bare excepts in Python"): the gold searches the idiomatic code
    text in that language (``lang:python "except:"``), never the English words."""
    lang, code, says = ctx.rng.choice(v.CONCEPTS)
    said = ctx.pick(says)
    d.pattern, d.code_lang = pattern_token(code), lang
    if lang in v.FILE_NAMED_LANGS or ctx.chance(0.45):  # the language is its own fragment ("in Go")
        d.what = said if ctx.chance(0.6) else ctx.pick([f"any {said}", f"all the {said}", f"code with {said}",
                                                        f"places with {said}", f"uses of {said}"])
        d.lang = lang
        return
    d.params.append(f"lang:{lang}")
    name = lang_said(ctx, lang)
    d.what = ctx.short([f"{name} {said}", f"{said} in {name}", f"{said} in our {name}", f"{name} code with {said}",
                        f"{said} in the {name} code", f"{name} files with {said}", f"{said} ({name})"],
                       [f"{said} in our {name} codebase", f"any {said} in the {name} sources",
                        f"{name} code that has {said}", f"{name} files that use {said}",
                        f"all the {said} we have in {name}", f"{said} written in {name}",
                        f"places in the {name} code with {said}", f"instances of {said} in {name} files"], 0.7)


def _topic(ctx, d):
    spoken, terms = ctx.rng.choice(v.TOPICS)
    filler = ctx.pick(["", "", " handling", " logic", " code", " stuff", " implementation", " setup"])
    d.what = spoken if ctx.chance(0.7) else ctx.pick([f"{spoken}{filler}", f"the {spoken}{filler}",
                                                      f"where we handle {spoken}", f"anything about {spoken}",
                                                      f"our {spoken}{filler}", f"code dealing with {spoken}"])
    d.pattern = terms


def _message(ctx, d):
    """An error or log message, pasted in quotes or named in words ("where we log connection
    refused"): the gold quotes it either way when it has several words."""
    text = ctx.rng.choice(v.MESSAGES)
    q = ctx.pick(['"', '"', "'", ""]) if ctx.chance(0.6) else ""
    if q and ctx.chance(0.5):
        d.what = f"{q}{text}{q}"
    elif q:
        d.what = ctx.pick([f"the error {q}{text}{q}", f"where we log {q}{text}{q}", f"the message {q}{text}{q}",
                           f"{q}{text}{q}", f"the string {q}{text}{q}", f"where {q}{text}{q} comes from",
                           f"the text {q}{text}{q}", f"the log line {q}{text}{q}"])
    else:
        d.what = ctx.pick([f"where we log {text}", f"the {text} error", f"the error {text}", f"{text} errors",
                           f"the message {text}", f"the {text} we throw", f"the exact phrase {text}",
                           f"the {text} message", f"log lines saying {text}", f"the {text} we return",
                           f"the error message {text}", f"the {text} log line"])
    d.pattern = pattern_token(text)  # one word ("unauthorized") stays bare


def _term(ctx, d):
    term = ctx.rng.choice(v.TERMS)
    d.what = term if ctx.chance(0.7) else ctx.pick([term, f"{term} references", f"mentions of {term}",
                                                    f"anything mentioning {term}", f"all the {term} stuff",
                                                    f"every {term} mention"])
    d.pattern = pattern_token(term)


def _regex(ctx, d):
    described, regex, _ = ctx.rng.choice(v.REGEXES)
    if ctx.chance(0.2):
        first, second = ctx.rng.choice(v.SEQUENCES)
        described, regex = f"{first} followed later on the same line by {second}", f"{regex_escape(first)}.*{second}"
    # never "a regex for X": a request that says regex gets patterntype:regexp (``_regexp_mode``)
    # "code", not "lines": a file fragment said before it ("main.go only") would make "only lines
    # with ...", which asks for the matching lines alone (select:content); "text" where it says lines
    lines = "text" if described.startswith("lines") else "code"
    d.what = described if ctx.chance(0.6) else ctx.pick([described, f"anything that looks like {described}",
                                                         f"text matching {described}", f"{lines} like {described}",
                                                         f"patterns like {described}", f"{lines} with {described}",
                                                         f"strings shaped like {described}",
                                                         f"anything matching {described}",
                                                         f"{lines} that look like {described}",
                                                         f"text shaped like {described}", f"occurrences of {described}",
                                                         f"matches for {described}"])
    d.pattern = f"/{regex}/"


def _regexp_mode(ctx, d):
    """A request that says regex or regular expression: ``patterntype:regexp`` and the regex, a
    described one or a code snippet escaped to match itself ("fmt.Println( with a regex")."""
    roll = ctx.rng.random()
    if roll < 0.25:
        first, second = ctx.rng.choice(v.SEQUENCES)
        described, regex = f"{first} followed by {second} on the same line", f"{regex_escape(first)}.*{second}"
    elif roll < 0.45:
        lang = ctx.rng.choice(list(_ESCAPABLE))
        code = ctx.rng.choice(_ESCAPABLE[lang])
        described, regex = say_code(ctx, code), regex_escape(code)
        d.lang = d.code_lang = lang
    else:
        described, regex, _ = ctx.rng.choice([r for r in v.REGEXES if r[2]])
    d.what = ctx.short([f"{described}, regex", f"regexp {described}", f"a regex for {described}",
                        f"regex for {described}", f"matching the regex for {described}",
                        f"regex search for {described}", f"{described} via regex", f"{described} as a regex",
                        f"{described} (regex)", f"regex matching {described}", f"{described} by regex",
                        f"a regexp for {described}"],
                       [f"{described}, in regex mode", f"{described} using regexp search",
                        f"{described} (treat it as a regular expression)", f"{described} with regexp matching",
                        f"a regular expression search for {described}", f"{described} using a regular expression",
                        f"{described}, regexp pattern type", f"{described}, matched with a regex"])
    d.params.append("patterntype:regexp")
    d.pattern = regex


def _regex_safe(code: str) -> bool:
    """Code whose escaped regex is one regexp-mode term: no field-like colon, brackets balanced."""
    escaped = regex_escape(code)
    return (":" not in code and not code.startswith(("-", "/", "\\"))
            and all(escaped.count(a) == escaped.count(b) for a, b in ("()", "[]", "{}")))


#: lang -> code with regex metacharacters that a regexp-mode search escapes ("fmt.Println(" -> fmt\.Println\()
_ESCAPABLE = {lang: kept for lang, codes in v.CODE.items()
              if (kept := [c for c in codes if _regex_safe(c) and re.search(r"[.()\[\]{}*+?|$]", c)])}


def _literal(ctx, d):
    """Literal text is a quoted phrase in the default mode; ``patterntype:literal`` only when the
    request names that pattern type ("literally" alone does not)."""
    text = ctx.rng.choice(v.LITERALS)
    if ctx.chance(0.6):
        d.what = ctx.short([f"{text} in literal mode", f"{text}, literal pattern type"],
                           [f"{text} with the literal pattern type", f"{text} using literal search mode",
                            f"a literal-mode search for {text}"])
        d.params.append("patterntype:literal")
        d.pattern = text
        return
    d.what = ctx.short([f"literally {text}", f"the exact text {text}", f"{text} literally"],
                       [f"the literal text {text}", f"exactly {text}", f"the characters {text} exactly",
                        f"the exact string {text}", f"{text} as a literal string"])
    d.pattern = pattern_token(text)


def _phrase(ctx, d):
    """Exact code text of several words: the gold quotes it ("password =" -> ``"password ="``); "code
    with", not "lines with", which after a file fragment ("main.go only") asks for the lines alone."""
    text = ctx.rng.choice(v.PHRASES)
    d.what = ctx.pick([f'"{text}"', f"'{text}'", f"the exact text {text}", f"literally {text}",
                       f"the text '{text}'", f'code with "{text}"', f"the exact string '{text}'",
                       f"exactly {text}", f"the snippet '{text}'"])
    d.pattern = pattern_token(text)


def _standard(ctx, d):
    text = ctx.rng.choice(v.MESSAGES)
    d.what = ctx.short([f"{text}, standard mode"],
                       [f"{text} in standard mode", f"{text} with the standard pattern type",
                        f"{text} as one string, standard search", f"standard-mode matches of {text}"])
    d.params.append("patterntype:standard")
    d.pattern = text


def _keyword_mode(ctx, d):
    spoken, terms = ctx.rng.choice(v.TOPICS)
    d.what = ctx.short([f"{spoken}, keyword mode"], [f"{spoken} in keyword mode", f"{spoken} as a keyword search",
                       f"{spoken} using the keyword pattern type"])
    d.params.append("patterntype:keyword")
    d.pattern = terms


def _boolean(ctx: Ctx, d: Draft, op: str, phrasings: list[str]) -> bool:
    """Two distinct simple terms joined by ``op``, said one of ``phrasings`` ways (templates with
    ``{a}`` and ``{b}``); an identifier instead when the terms repeat, and then False. One body
    for OR, AND and NOT, so how a pair is drawn and said is written once."""
    terms = _terms(ctx, d, 2)
    if not terms:
        _ident(ctx, d)
        return False
    (a, sa), (b, sb) = terms
    d.what = ctx.pick([phrasing.format(a=sa, b=sb) for phrasing in phrasings])
    d.pattern = f"{a} {op} {b}"
    return True


def _or(ctx, d):
    """Either term; ``pattern_or`` so the pattern is parenthesised once filters join it."""
    if _boolean(ctx, d, "OR", ["{a} or {b}", "either {a} or {b}", "{a} or else {b}", "any of {a} and {b}",
                               "{a} or maybe {b}", "{a}, or {b}"]):
        d.pattern_or = True


def _and(ctx, d):
    """Both terms, said as in one file."""
    _boolean(ctx, d, "AND", ["both {a} and {b}", "{a} together with {b}", "files with {a} and also {b}",
                             "{a} and {b} in the same file", "places using {a} as well as {b}"])


def _not(ctx, d):
    """The first term in files without the second."""
    _boolean(ctx, d, "NOT", ["{a} but not {b}", "{a} without {b}", "{a} where there's no {b}",
                             "files with {a} that lack {b}", "{a}, excluding anything with {b}", "{a} but never {b}"])


def _group(ctx, d):
    terms = _terms(ctx, d, 3)
    if not terms:
        return _or(ctx, d)
    (a, sa), (b, sb), (c, sc) = terms
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
    """Files with one thing that lack another text: ``-content:``, for a pasted message or for code
    the file never uses ("ReportBuilder in files that never call time.Sleep")."""
    name, spoken = identifier(ctx)
    d.pattern = name
    if ctx.chance(0.5):
        other = ctx.rng.choice(v.MESSAGES)
        d.what = ctx.pick([f"{spoken} in files that don't contain '{other}'",
                           f"{spoken} where the file lacks \"{other}\"",
                           f"{spoken}, skipping files with the text \"{other}\""])
        d.params.append(f'-content:"{other}"')
        return
    code = any_code(ctx, d)
    said = say_code(ctx, code)
    d.what = ctx.pick([f"{spoken} in files that never use {said}", f"{spoken} but only in files without {said}",
                       f"files with {spoken} that never mention {said}", f"{spoken} where {said} never shows up",
                       f"{spoken} in files that don't call {said}"])
    d.params.append(f"-content:{pattern_token(code)}")


BUILD = {"ident": _ident, "lang_code": _lang_code, "concept": _concept, "topic": _topic, "message": _message,
         "term": _term, "regex": _regex, "regexp_mode": _regexp_mode, "literal": _literal, "phrase": _phrase,
         "standard": _standard, "keyword_mode": _keyword_mode, "or": _or, "and": _and, "not": _not, "group": _group,
         "content": _content, "neg_content": _neg_content, "spoken_ident": spoken_ident,
         "idiom": idiom}
