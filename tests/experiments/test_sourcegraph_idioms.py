"""Code idioms composed from a name the request gives (datasets/sourcegraph/idioms.py): the gold searches
the idiom as its language writes it under a filter of that language, the request says the name and the
family in words, the kind is a few percent of rows (none at weight 0), and no slot value is a dev term."""
from __future__ import annotations

import random
import re
from datetime import date

import pytest

from querytune.datasets.sourcegraph import content, idioms
from querytune.datasets.sourcegraph import vocab as v
from querytune.datasets.sourcegraph.pieces import Ctx, Draft
from querytune.experiments import get_task
from querytune.experiments.sourcegraph import generate
from querytune.experiments.sourcegraph.grammar import parse_query
from querytune.experiments.sourcegraph.languages import canonical_language
from querytune.experiments.sourcegraph.validate import problems_of

N = 6000
#: query syntax that must never appear in a request (test_sourcegraph_data.py's, with backticks)
SYNTAX = re.compile(r"`|(?<![\w:])-?[A-Za-z]+:(?![:\s])|\.\*|(?:^|\s)/\S+/(?=[\s.,?!]|$)|\^|\S\$(?=[\s.,?!)]|$)"
                    r"|\w@(?![\w-]+\.(?:com|io|dev|org)\b)")
#: how requests name a family in English: never a word of the gold, unless it is the name the request gives
HEAD_WORDS = {"importing", "imports", "imported", "extending", "inheriting", "inherits", "subclasses", "subclassing",
              "deriving", "implementing", "implementations", "implementors", "requiring", "including", "setting",
              "turned", "turning", "enabled", "disabled", "based", "exposing", "decorated", "annotated", "marked",
              "bounded", "constrained", "pinned", "switching", "altering", "inserting", "deleting", "updating",
              "joining", "target", "aliased"}


def _record(n: int, seed: int, **options) -> list[tuple[dict, bool]]:
    """``examples(n, seed)``'s rows, each with whether the idiom kind built its content (read off the
    builder, so no text table decides it)."""
    built, rows = {}, []
    example = generate._example

    def recording(ctx, d):
        built["idiom"] = True
        idioms.idiom(ctx, d)

    def marking(*args):
        built.clear()
        row = example(*args)
        rows.append((row, bool(built)))
        return row

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(content.BUILD, "idiom", recording)
        patch.setattr(generate, "_example", marking)
        kept = generate.examples(n, seed, **options)
    marks = {id(row): made for row, made in rows}
    return [(row, marks[id(row)]) for row in kept]


@pytest.fixture(scope="module")
def rows() -> list[tuple[dict, bool]]:
    return _record(N, 0)


@pytest.fixture(scope="module")
def idiom_rows(rows) -> list[dict]:
    return [row for row, made in rows if made]


def _sources() -> dict[str, list[tuple[idioms.Target, str, object]]]:
    """Idiom text -> every (target, x, y) that composes it."""
    found: dict[str, list] = {}
    for family in idioms.FAMILIES:
        for target in family.targets:
            for x, y in target.values:
                found.setdefault(target.text(x, y), []).append((target, x, y))
    return found


def _pattern(query: str) -> str:
    (pattern,) = parse_query(query).patterns()
    return pattern.value


def test_an_idiom_is_a_few_percent_of_rows_and_none_at_weight_zero(rows):
    share = sum(made for _, made in rows) / N
    assert 0.025 <= share <= 0.045  # weight 26 of ~237 in the code-search content mix: ~3.2% at seed 0
    assert not any(made for _, made in _record(400, 3, content_weights={"idiom": 0}))


def test_weight_zero_draws_the_rows_of_the_mix_without_the_kind():
    """A kind weighted 0 sits where it is: the other kinds are drawn from the same numbers as before it existed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(content, "CONTENT_WEIGHTS", {k: w for k, w in content.CONTENT_WEIGHTS.items() if k != "idiom"})
        before = generate.examples(300, seed=5)
    assert generate.examples(300, seed=5, content_weights={"idiom": 0}) == before
    assert get_task("sourcegraph").generate(300, seed=5, content_weights={"idiom": 0}).to_list() == before


def test_every_idiom_gold_parses_validates_and_searches_one_composed_idiom(idiom_rows):
    assert len(idiom_rows) > 150
    assert [(r["query"], problems_of(r["query"])[0].reason) for r in idiom_rows if problems_of(r["query"])] == []
    assert [r["query"] for r in idiom_rows if _pattern(r["query"]) not in idioms.WRITTEN_IN] == []
    assert len({_pattern(r["query"]) for r in idiom_rows}) > 0.9 * len(idiom_rows)  # names vary: no pair repeats


def test_the_pattern_is_code_and_the_request_says_the_name(idiom_rows):
    """The gold holds none of the request's English ("importing", "extending", "set to"), only the
    idiom's syntax and the value the request names, which the request carries as it is written (a
    family said entirely in words, "async loops" -> ``for await``, has only the syntax)."""
    sources = _sources()
    english, unsaid = [], []
    for r in idiom_rows:
        text, request = _pattern(r["query"]), r["request"].lower()
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
        names = sources[text]
        named = {w.lower() for _, x, y in names for w in re.findall(r"[A-Za-z]+", f"{x} {y}")}
        if words & HEAD_WORDS - named:
            english.append((r["request"], r["query"]))
        if all("{x}" not in t.code for t, _, _ in names):
            continue  # "async loops" -> "for await": English the surface layer may abbreviate ("funcs")
        said = any(s.format(x=x).lower() in request and ("{y}" not in t.code or isinstance(y, bool)
                                                          or str(y).lower() in request)
                   for t, x, y in names if "{x}" in t.code for s in t.said)
        if not said:
            unsaid.append((r["request"], r["query"]))
    assert english == [] and unsaid == []


def _langs(query: str) -> tuple[set[str], set[str], set[str]]:
    """(languages the query keeps to, ones it leaves out, its file regexes)."""
    params = [p for p in parse_query(query).params() if not p.predicate]
    kept = {canonical_language(p.value) for p in params if p.field == "lang" and not p.negated}
    left = {canonical_language(p.value) for p in params if p.field == "lang" and p.negated}
    regexes = {p.value for p in params if p.field == "file" and not p.negated}
    return kept, left, regexes


def test_an_idiom_is_filtered_by_a_language_that_writes_it(idiom_rows):
    """A Ruby ``< C`` is never under lang:python nor in main.go files; an idiom only one language writes is
    never left out (-lang:ruby), and a row names no language only for a text several write alike."""
    sources = _sources()
    wrong, unscoped = [], []
    for r in idiom_rows:
        text = _pattern(r["query"])
        kept, left, regexes = _langs(r["query"])
        written = idioms.WRITTEN_IN[text]
        implied = {v.IMPLIED_LANG[x] for x in regexes if x in v.IMPLIED_LANG}
        if kept - written or implied - written or len(written) == 1 and left & written:
            wrong.append((r["request"], r["query"]))
        kinds, syntaxes = {t.file for t, _, _ in sources[text]}, {t.lang for t, _, _ in sources[text]}
        if not kept and not regexes & kinds and len(syntaxes) == 1:  # TOML's line-length = 100 is said TOML's
            unscoped.append((r["request"], r["query"]))
    assert wrong == [] and unscoped == []
    assert sum(bool(_langs(r["query"])[0]) for r in idiom_rows) > 0.5 * len(idiom_rows)
    assert len({lang for r in idiom_rows for lang in _langs(r["query"])[0]}) >= 12
    assert sum(bool(_langs(r["query"])[2]) for r in idiom_rows) > 0.15 * len(idiom_rows)  # k8s/, Dockerfile, ...


#: a syntax mark of an idiom -> the only languages (or kinds of file) that write it, known apart from idioms.yaml
SYNTAX_OF = {r"^< [A-Z]": {"ruby"}, r"^#include <": {"c", "c++"}, r"^use [\w:]+::$": {"rust"}, r"^require '": {"ruby"},
             r"^require\('": {"javascript"}, r"^from '": {"javascript", "typescript"}, r"^import 'package:": {"dart"},
             r"^(FROM|EXPOSE|USER|RUN|ENV|ARG) ": {"dockerfile"}, r"^: [\w.]+\(\)$": {"kotlin"},
             r"^impl .+ for$": {"rust"},
             r"^using [\w.]+;$": {"c#"}, r'^"[\w.\-/]+"$': {"go"}, r"^\(.+\):$": {"python"}, r"^#\[": {"rust"},
             r"^extends ": {"java", "typescript", "javascript", "dart", "php", "scala", "groovy"},
             r"^implements ": {"java", "typescript", "php", "dart"}, r"^[\w-]+:$": {"makefile"},
             r"^\[[A-Z]\w*\]$": {"c#"}, r"^[A-Z][A-Z0-9_]*=": {"text"}, r"^[a-z_]+=": {"python"}, r'^"\w+": ': {"json"},
             r"^where T : ": {"c#"}, r"^\[T ": {"go"}, r"^(ALTER|CREATE|DROP|INSERT|DELETE|UPDATE|JOIN) ": {"sql"}}


def test_each_syntax_is_only_written_in_its_languages():
    """Ruby's ``< C`` is Ruby's, ``from 'x'`` JavaScript's or TypeScript's ... whatever idioms.yaml says."""
    marked = {mark: [t for t in idioms.WRITTEN_IN if re.search(mark, t)] for mark in SYNTAX_OF}
    assert {mark: texts for mark, texts in marked.items() if not texts} == {}
    assert sorted((t, sorted(idioms.WRITTEN_IN[t])) for mark, texts in marked.items() for t in texts
                  if not idioms.WRITTEN_IN[t] <= SYNTAX_OF[mark]) == []


def test_the_families_and_languages_are_broad():
    """Enough slot values per family that the model learns the syntax, not the pairs."""
    per_family = {f.name: sum(len(t.values) for t in f.targets) for f in idioms.FAMILIES}
    assert len(idioms.WRITTEN_IN) > 2000
    assert {"imports", "extends", "implements", "settings", "make_targets", "docker_from", "sql_statements",
            "keywords", "decorators", "annotations"} <= set(per_family)
    assert {name: n for name, n in per_family.items() if n < 10} == {}
    imports = next(f for f in idioms.FAMILIES if f.name == "imports")
    assert len({t.lang for t in imports.targets}) >= 12 and min(len(t.values) for t in imports.targets) >= 15


def test_every_phrasing_says_its_placeholders():
    """Each phrasing fills from the family's slots: {x} always, {lang} in say_lang, {kind} in say_file, and a
    boolean's words in ``bool``; none starts with "where" (the request writer cuts it) or holds query syntax."""
    for family in idioms.FAMILIES:
        two = any("{x}" in t.code and "{y}" in t.code for t in family.targets)  # "python 3.9": x and y are said
        for said, scope in ((family.say, None), (family.bool_say, "bool")):
            for key, phrasings in said.items():
                assert scope or key != "say" or len(phrasings) >= 8, family.name
                for phrasing in phrasings:
                    fields = set(re.findall(r"{(\w+)}", phrasing))
                    assert "x" in fields and not phrasing.lower().startswith("where"), (family.name, phrasing)
                    assert ("lang" in fields) == (key == "say_lang") and ("kind" in fields) == (key == "say_file")
                    assert not two or "y" in fields or scope, (family.name, phrasing)
                    assert fields <= {"x", "y", "lang", "kind", "on", "enabled"} and not SYNTAX.search(phrasing)
                    assert scope != "bool" or fields & {"on", "enabled"}, (family.name, phrasing)


def test_drawn_idiom_requests_hold_no_query_syntax():
    """Many more draws than the rows hold: every family, target and phrasing, in train and held-out rows; a
    request that names no language or kind of file is one for a text several languages write alike."""
    of = {text: f.name for f in idioms.FAMILIES for t in f.targets for x, y in t.values for text in [t.text(x, y)]}
    syntaxes = {text: {t.lang for t, _, _ in found} for text, found in _sources().items()}
    rng, bad, unscoped, families = random.Random(0), [], [], set()
    for i in range(6000):
        ctx, d = Ctx(rng, date(2026, 1, 1), held_out=i % 2 == 1), Draft("code")
        idioms.idiom(ctx, d)
        said, text = " ".join([d.what, *d.fragments]), _pattern(d.pattern)
        if SYNTAX.search(said) or "\\" in said or not d.pattern or not d.code_lang:
            bad.append((said, d.pattern))
        if not d.lang and not any(p.startswith(("lang:", "file:")) for p in d.params) and len(syntaxes[text]) < 2:
            unscoped.append((said, d.pattern))  # no language said for a syntax only one language writes
        families.add(of[text])
    assert bad == [] and unscoped == [] and len(families) == len(idioms.FAMILIES)


def _dev_words() -> set[str]:
    """Every word, name and dotted path a dev gold searches for (patterns, content: and predicate
    arguments), lowercased: a slot value equal to one teaches part of a dev answer."""
    words = set()
    for r in get_task("sourcegraph").dev():
        query = parse_query(r["query"])
        values = [p.value for p in query.patterns()]
        values += [p.args or p.value for p in query.params() if p.field == "content" or p.predicate]
        words |= {w.lower() for value in values for w in re.findall(r"[\w.\-@+#]+", value) if not w.isdigit()}
    return words


def test_no_slot_value_is_a_word_a_dev_gold_searches_for():
    """numpy, lodash, ApplicationRecord, hostNetwork, docker-build, thread ... stay out of the slots, in any
    casing (the composed idioms are checked whole in test_sourcegraph_data.py's pattern tables)."""
    dev = _dev_words()
    assert {"numpy", "lodash", "applicationrecord", "hostnetwork", "docker-build", "thread", "genserver"} <= dev
    values = {s for f in idioms.FAMILIES for t in f.targets for x, y in t.values for s in (x, y) if isinstance(s, str)}
    assert sorted(s for s in values if s.lower() in dev) == []


def test_an_unquoted_version_is_refused_by_name():
    """YAML reads 3.10 as the float 3.1: a float slot value is an error that names the table and the fix."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(v.IDIOM_SLOTS, "broken", {"python": [3.1]})
        with pytest.raises(ValueError, match=r"idiom_slots\.broken holds 'python': 3\.1, a float; quote versions"):
            idioms._values("docker_from", ["broken"])
