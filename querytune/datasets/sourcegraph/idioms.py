"""Code idioms composed from a name the request gives ("python files importing httpx", "java classes
extending BaseEntity", "k8s manifests that set replicas to 3", "Dockerfiles still based on python 3.9").

A family (imports, extends, settings, ...) has a template per language or kind of file; a row fills one
with a slot value the request says, so the model learns each language's syntax for the family, not
pairs it could memorise. The gold searches the idiom as that language writes it (``lang:python "import
httpx"``, ``file:k8s/ "replicas: 3"``, ``file:Dockerfile "FROM python:3.9"``), never the English words;
the language is said before the idiom ("Go files importing ..."), as its own fragment ("... in Go"), or,
for a text several languages write alike ("from 'zod'"), not at all. Families, templates and slot values
are data: idioms.yaml, read by vocab.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft, pattern_token

FRAGMENT_SHARE = 0.45  # the scope said as its own fragment ("... in Go") rather than before the idiom ("Go files ...")
UNSCOPED_SHARE = 0.3  # an idiom several languages write alike ("extends Model"): share of requests naming none
BOOL_WORDS_SHARE = 0.5  # a boolean said as on/off or enabled/disabled (the family's ``bool`` phrasings)


@dataclass(frozen=True)
class Target:
    """A family's template in one language (``file``: said as that kind of file, a vocab.yaml files
    regex) and the (x, y) slot values that fill it (y is None for a one-slot template)."""

    lang: str
    file: str | None
    code: str
    values: tuple[tuple[str, bool | int | str | None], ...]
    said: tuple[str, ...]  # how a request writes x ("<{x}>" for a C header)
    bools: tuple[str, str]  # how the code writes true and false
    string: str  # how the code writes a string y ('"{}"' in JSON, HCL and TOML)
    weight: float

    def text(self, x: str, y: bool | int | str | None) -> str:
        """The idiom as code: ``Target(code="{x}: {y}", ...).text("replicas", 3)`` is ``replicas: 3``."""
        if isinstance(y, bool):
            y = self.bools[not y]
        elif isinstance(y, str):
            y = self.string.format(y)
        return self.code.format(x=x, y=y)


@dataclass(frozen=True)
class Family:
    name: str
    weight: float
    say: dict[str, list[str]]  # "say", "say_lang", "say_file" -> phrasings (idioms.yaml describes them)
    bool_say: dict[str, list[str]]  # the same keys, for a boolean said with {on} or {enabled}
    targets: tuple[Target, ...]


def _values(family: str, slots: list[str]) -> tuple:
    values = []
    for name in slots:
        table = v.IDIOM_SLOTS[name]
        pairs = ([(x, y) for x, ys in table.items() for y in ys] if isinstance(table, dict)
                 else [(x, None) for x in table])
        for x, y in pairs:
            if isinstance(x, float) or isinstance(y, float):
                raise ValueError(f"idioms.yaml: idiom_slots.{name} holds {x!r}: {y!r}, a float; quote versions "
                                 f"('3.10', which YAML reads as 3.1)")
            values.append((str(x), y))
    if not values:
        raise ValueError(f"idioms.yaml: idiom_families.{family} has a target with no slot values")
    return tuple(values)


def _target(family: str, row: dict, say_lang: list[str]) -> Target:
    if row.get("file") and row["file"] not in _KIND_SAYS:
        raise ValueError(f"idioms.yaml: idiom_families.{family}: file {row['file']!r} is no regex of vocab.yaml's "
                         f"files table; add it there, with the ways to say it")
    unnamed = row["lang"] not in v.LANG_NAMES and (row["lang"] not in v.IDIOM_LANG_NAMES or not say_lang)
    if not row.get("file") and unnamed:
        raise ValueError(f"idioms.yaml: idiom_families.{family}: lang {row['lang']!r} is no vocab.py LANGUAGES "
                         f"name, so it needs idiom_lang_names and say_lang phrasings (the modifiers cannot say it)")
    return Target(row["lang"], row.get("file"), row["code"], _values(family, row["slots"]),
                  tuple(row.get("said", ["{x}"])), tuple(row.get("bools", ["true", "false"])), row.get("string", "{}"),
                  row.get("weight", 1))


_KIND_SAYS = dict(v.FILE_KINDS)  # file regex -> ways to say that kind of file
FAMILIES = [Family(name, row["weight"], {k: row.get(k, []) for k in ("say", "say_lang", "say_file")},
                   {k: row.get("bool", {}).get(k, []) for k in ("say", "say_lang", "say_file")},
                   tuple(_target(name, t, row.get("say_lang", [])) for t in row["targets"]))
            for name, row in v.IDIOM_FAMILIES.items()]
_FAMILY_WEIGHTS = [f.weight for f in FAMILIES]
_TARGET_WEIGHTS = {f.name: [t.weight for t in f.targets] for f in FAMILIES}


def _languages() -> tuple[dict[str, set[str]], set[str]]:
    written: dict[str, set[str]] = {}
    syntax: dict[str, set[str]] = {}
    for family in FAMILIES:
        for t in family.targets:
            for x, y in t.values:
                text = t.text(x, y)
                written.setdefault(text, set()).update({t.lang, v.IMPLIED_LANG.get(t.file, t.lang)})
                syntax.setdefault(text, set()).add(t.lang)
    return written, {text for text, langs in syntax.items() if len(langs) > 1}


#: every idiom text -> the languages a filter may keep it to: its targets' and their kinds of file's (a
#: pyproject.toml setting is TOML in a file of lang text); _ALIKE: texts several languages' syntax writes alike
WRITTEN_IN, _ALIKE = _languages()


def idiom(ctx: Ctx, d: Draft) -> None:
    """An idiom of a family, filled with a slot value the request names: the pattern is the idiom's code
    (``d.code_lang`` its language), the request says it in words with its language or kind of file."""
    family = ctx.rng.choices(FAMILIES, _FAMILY_WEIGHTS)[0]
    target = ctx.rng.choices(family.targets, _TARGET_WEIGHTS[family.name])[0]
    x, y = ctx.rng.choice(target.values)
    text = target.text(x, y)
    d.pattern, d.code_lang = pattern_token(text), target.lang
    worded = isinstance(y, bool) and family.bool_say["say"] and ctx.chance(BOOL_WORDS_SHARE)
    said = family.bool_say if worded else family.say
    words = {"x": ctx.rng.choice(target.said).format(x=x), "y": str(y).lower() if isinstance(y, bool) else y,
             "on": "on" if y else "off", "enabled": "enabled" if y else "disabled"}
    if text in _ALIKE and ctx.chance(UNSCOPED_SHARE):  # "classes extending Model": PHP's or TypeScript's
        d.what = ctx.pick(said["say"]).format(**words)
        return
    scoped = said["say_file" if target.file else "say_lang"]
    if not scoped or ctx.chance(FRAGMENT_SHARE) and (target.file or target.lang in v.LANG_NAMES):
        d.what = ctx.pick(said["say"]).format(**words)
        _scope(ctx, d, target)
        return
    if target.file:
        d.what = ctx.pick(scoped).format(kind=ctx.pick(_KIND_SAYS[target.file]), **words)
        d.params.append(f"file:{target.file}")
        d.file_specific = d.file_specific or target.file in v.IMPLIED_LANG
        return
    d.what = ctx.pick(scoped).format(lang=ctx.rng.choice(v.LANG_NAMES.get(target.lang) or
                                                         v.IDIOM_LANG_NAMES[target.lang]), **words)
    d.params.append(f"lang:{target.lang}")


def _scope(ctx: Ctx, d: Draft, target: Target) -> None:
    """The language or kind of file as its own fragment: a language through ``d.lang`` (the modifiers say
    it, "in Go"), a kind of file here ("in k8s manifests")."""
    if not target.file:
        d.lang = target.lang
        return
    kind = ctx.pick(_KIND_SAYS[target.file])
    d.add(f"file:{target.file}", ctx.short([f"in {kind}", f"{kind} only"], [f"in the {kind}", f"only in {kind}"]))
    d.file_specific = d.file_specific or target.file in v.IMPLIED_LANG
