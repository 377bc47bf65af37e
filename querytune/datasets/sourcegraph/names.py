"""Code names said in words ("retry policies", "the log level env var"): the identifier a request
means, cased the way its kind and language write it, so the model learns to form a name, not only to copy one."""
from __future__ import annotations

import re

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft

#: kind of name -> its casing, one in every language of ``KIND_LANGS`` (a function's or variable's: ``MEMBER_CASE``)
KIND_CASE = {"type": "pascal", "constant": "upper", "env": "upper", "setting": "snake"}
#: kind -> languages that write it that way: a language filter the row draws later keeps to one of them, so
#: no filter makes the casing a guess (a Go constant is MixedCaps, a C struct often snake_case)
KIND_LANGS = {"type": ["go", "python", "typescript", "javascript", "java", "rust", "c#", "kotlin", "swift", "scala",
                       "php"],
              "constant": ["python", "java", "rust", "ruby", "javascript", "typescript", "kotlin", "c", "c++", "php"],
              "env": ["go", "python", "typescript", "javascript", "java", "rust", "ruby", "shell", "yaml",
                      "dockerfile"],
              "setting": ["yaml", "hcl", "ruby", "rust"]}
#: lang -> (function casing, variable casing): a language's convention (a Go function is camel unless exported)
MEMBER_CASE = {"python": ("snake", "snake"), "ruby": ("snake", "snake"), "rust": ("snake", "snake"),
               "go": ("camel", "camel"), "java": ("camel", "camel"), "javascript": ("camel", "camel"),
               "typescript": ("camel", "camel"), "kotlin": ("camel", "camel"), "c#": ("pascal", "camel")}


def code_name(words: str, kind: str, lang: str | None = None, exported: bool = False) -> str:
    """A name said in words, written as code of its kind writes it (a function or variable in ``lang``'s
    casing; ``exported``: a Go function seen outside its package).

    >>> code_name("retry policy", "type"), code_name("retry policy", "env"), code_name("retry policy", "function", "go")
    ('RetryPolicy', 'RETRY_POLICY', 'retryPolicy')
    """
    case = KIND_CASE.get(kind) or ("pascal" if exported else MEMBER_CASE[lang][kind == "variable"])
    parts = words.split()
    if case in ("snake", "upper"):
        return "_".join(parts).upper() if case == "upper" else "_".join(parts)
    pascal = "".join(part.capitalize() for part in parts)
    return pascal if case == "pascal" else pascal[0].lower() + pascal[1:]


def plural(words: str) -> str:
    """How a request says several of a type ("retry policies" are RetryPolicy).

    >>> plural("retry policy"), plural("tax calculator"), plural("filter box")
    ('retry policies', 'tax calculators', 'filter boxes')
    """
    if re.search(r"[^aeiou]y$", words):
        return words[:-1] + "ies"
    return words + ("es" if re.search(r"(s|x|z|ch|sh)$", words) else "s")


def spoken_ident(ctx: Ctx, d: Draft) -> None:
    """A code name said in words ("retry policies", "the log level env var"): the gold searches the
    identifier as the code writes it (``RetryPolicy``, ``LOG_LEVEL``), never the English words. A name
    said alone is a type; a constant, env var or setting is named with its kind word, which decides its
    casing; a function's or variable's casing is its language's, so the request names the language
    (and says whether a Go function is exported)."""
    kind, words = ctx.rng.choice(v.SPOKEN_IDENTS)
    if kind in KIND_CASE:
        d.pattern, d.code_lang = code_name(words, kind), ctx.rng.choice(KIND_LANGS[kind])
        d.what = _say_named(ctx, kind, words)
        return
    lang = ctx.rng.choice(list(MEMBER_CASE))
    go_function = lang == "go" and kind == "function"
    exported = go_function and ctx.chance(0.5)
    d.pattern = code_name(words, kind, lang, exported)
    d.lang = d.code_lang = lang  # said as its own fragment ("in Ruby") by the modifiers
    d.what = _say_member(ctx, kind, words, ("exported " if exported else "unexported ") if go_function else "")


def _say_named(ctx: Ctx, kind: str, w: str) -> str:
    """A type (bare, plural or with a kind word), a constant, an env var or a setting, said in words."""
    if kind == "type":
        ws = plural(w)
        return ctx.pick([w, f"the {w}", ws, ws, f"the {w} class", f"the {w} type", f"{w} class", f"our {w}",
                         f"all the {ws}", f"usages of the {w} class", f"the {w} struct", f"code using {ws}",
                         f"references to the {w} type", f"every {w} we build", f"{w} instances",
                         f"places that make {ws}"])
    if kind == "constant":
        return ctx.pick([f"the {w} constant", f"the {w} const", f"{w} constant", f"the constant {w}",
                         f"uses of the {w} constant", f"where we read the {w} constant", f"reads of the {w} constant",
                         f"the {w} constant value"])
    if kind == "env":
        return ctx.pick([f"the {w} env var", f"the {w} environment variable", f"{w} env var", f"the env var {w}",
                         f"reads of the {w} env var", f"where we read the {w} environment variable",
                         f"the {w} env variable", f"uses of the {w} env var"])
    return ctx.pick([f"the {w} setting", f"the {w} config key", f"{w} setting", f"the {w} config setting",
                     f"where we set the {w} setting", f"the {w} option in the config", f"reads of the {w} setting",
                     f"the config key for {w}"])


def _say_member(ctx: Ctx, kind: str, w: str, go: str) -> str:
    """A function (``go``: "exported " or "unexported " before a Go one) or a variable, with its kind word."""
    if kind == "function":
        return ctx.pick([f"the {go}{w} function", f"calls to the {go}{w} function", f"the {go}{w} method",
                         f"the {go}{w} func", f"callers of the {go}{w} function", f"uses of the {go}{w} method",
                         f"where we call the {go}{w} function", f"the {go}{w} helper"])
    return ctx.pick([f"the {w} variable", f"the {w} var", f"{w} variable", f"the variable {w}",
                     f"uses of the {w} variable", f"where we set the {w} variable", f"reads of the {w} variable",
                     f"the {w} local"])
