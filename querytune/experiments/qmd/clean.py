"""Target cleaning: repair or drop training targets that lose the scorer's points.

A third of the shared rows were generated from templates (999 rows: the hyde is one of
seven boilerplate passages with the query pasted in, "This comprehensive guide to {q}
covers ..."; the lex lines are the query plus "tutorial"/"guide"/"overview", the vec
lines "how to {q}"). A small model trained on them learns exactly those habits: a lex
line that is the query plus one word is an echo, and an echo caps the score at 50%.
Another 436 rows have the filler word "overview" or "basics" pasted into a lex line.

Each step below is measured with the scorer (``steps_table``; ``python -m
querytune.experiments.qmd.data`` prints it). Line edits are of two
kinds:

* unguarded: the line is template text, so it goes even if the scorer happens not to
  mind (filler words, query-plus-template lines);
* guarded: kept only when the row's score does not go down (a quoted phrase, dropping a
  lex line that shares no key term, the longest lex line when lex is longer than vec, a
  near-echo lex line, a one-sentence hyde over 200 characters cut at a clause break).

A row is dropped when its hyde is boilerplate, when a normal query is left without a
hyde, lex or vec line (a model that sees such targets learns to skip a type), when its
hyde is still too long or repetitive, or when its target still scores below ``MIN_SCORE``.

>>> strip_filler("sustainable overview development goals", "sustainable development goals")
'sustainable development goals'
>>> is_template_line("swimming stroke techniques best practices", "swimming stroke techniques")
True
"""
from __future__ import annotations

import re
from typing import Any, Callable

from querytune.experiments.qmd import heuristics as h
from querytune.experiments.qmd.lexicon import FILLER
from querytune.experiments.qmd.parse import only_mode
from querytune.experiments.qmd.prompt import target
from querytune.experiments.qmd.score import score_expansion

Row = dict[str, Any]
#: The cleaned set keeps Excellent targets, plus /only:hyde rows at their ceiling (95/120 = 79.2%).
MIN_SCORE = 79.0
HYDE_MAX = 200  # the scorer's ideal hyde length ends here

#: Boilerplate hyde openings of the generated files (999 rows), after the query is removed.
TEMPLATE_HYDE = re.compile(
    r"^(this comprehensive guide|learning \{q\} requires practice|whether you're a beginner|"
    r"this entry summarizes \{q\}|this overview (of|introduces) \{q\})", re.IGNORECASE)

#: Words that carry no search content when added to the query ("{q} tutorial", "how to {q}").
TEMPLATE_WORDS = frozenset("""
tips guide how to tutorial tutorials advice best practices documentation docs examples example
reference complete learn about understanding step by for success way introduction beginner
beginners explained overview basics information
""".split())


def pairs_of(row: Row, kind: str) -> list[str]:
    return [text for k, text in row["output"] if k == kind]


def score(row: Row) -> float:
    return score_expansion(row["query"], target(row)).pct


def with_output(row: Row, output: list) -> Row:
    return {**row, "output": output}


# ---- line tests -------------------------------------------------------------------------------

def is_template_hyde(text: str, query: str) -> bool:
    return bool(TEMPLATE_HYDE.match(text.replace(query, "{q}").strip()))


def strip_filler(line: str, query: str) -> str:
    """The line without the filler words the scorer penalises (unless the query uses them)."""
    keep = h.tokens(query)
    return " ".join(word for word in line.split() if word.lower() not in FILLER or word.lower() in keep)


def is_template_line(line: str, query: str) -> bool:
    """The query (or its words) plus only template words: nothing a search could use."""
    extra = h.tokens(line) - h.tokens(query)
    return extra <= TEMPLATE_WORDS


# ---- steps: each maps a row to a row (or None = drop) ---------------------------------------------

def drop_template_rows(row: Row) -> Row | None:
    hyde = pairs_of(row, "hyde")
    return None if hyde and is_template_hyde(hyde[0], row["query"]) else row


def remove_filler_words(row: Row) -> Row:
    base = only_mode(row["query"])[1]
    return with_output(row, [[k, strip_filler(t, base) if k == "lex" else t] for k, t in row["output"]])


def remove_template_lines(row: Row) -> Row:
    """Drop lex/vec lines that are the query plus template words, and lex echoes of the query."""
    base = only_mode(row["query"])[1]

    def junk(kind: str, text: str) -> bool:
        return kind in ("lex", "vec") and (is_template_line(text, base) or (kind == "lex" and h.echoes(text, base)))

    kept = [[k, t] for k, t in row["output"] if t and not junk(k, t)]
    return with_output(row, kept)


def _guarded(edit: Callable[[Row], Row | None]) -> Callable[[Row], Row]:
    """Apply ``edit`` only when the scorer does not mark the row down for it."""
    def step(row: Row) -> Row:
        edited = edit(row)
        return edited if edited is not None and score(edited) >= score(row) else row
    step.__doc__ = edit.__doc__
    return step


def _drop_lex_without_key_term(row: Row) -> Row | None:
    """Drop lex lines sharing no key term with the query, when another lex line stays."""
    base = only_mode(row["query"])[1]
    lex = pairs_of(row, "lex")
    keeping = [line for line in lex if h.keeps_key_term(line, base)]
    if not keeping or len(keeping) == len(lex):
        return None
    return with_output(row, [[k, t] for k, t in row["output"] if k != "lex" or t in keeping])


def _drop_longest_lex(row: Row) -> Row | None:
    """When lex lines are longer than vec lines on average, drop the longest lex line."""
    lex, vec = pairs_of(row, "lex"), pairs_of(row, "vec")
    if len(lex) < 2 or not vec or sum(map(len, lex)) / len(lex) <= sum(map(len, vec)) / len(vec):
        return None
    longest = max(lex, key=len)
    output = list(row["output"])
    output.remove(["lex", longest])
    return with_output(row, output)


def _quote_phrase(row: Row) -> Row | None:
    """Quote two adjacent query words in a lex line (the scorer's phrase bonus)."""
    kind, base = only_mode(row["query"])
    words = base.lower().split()
    if kind or len(words) < 2 or '"' in " ".join(pairs_of(row, "lex")):
        return None
    for i, (kind_, text) in enumerate(row["output"]):
        if kind_ != "lex":
            continue
        tokens = text.split()
        for j in range(len(tokens) - 1):
            pair = f"{tokens[j]} {tokens[j + 1]}".lower()
            if pair in " ".join(words) and all(t.isalnum() for t in tokens[j:j + 2]):
                quoted = tokens[:j] + [f'"{tokens[j]} {tokens[j + 1]}"'] + tokens[j + 2:]
                output = list(row["output"])
                output[i] = ["lex", " ".join(quoted)]
                return with_output(row, output)
    return None


def _drop_echo_risk_lex(row: Row) -> Row | None:
    """Drop lex lines holding the whole query plus under 15 characters, when another stays."""
    base = only_mode(row["query"])[1].lower()
    lex = pairs_of(row, "lex")
    risky = [line for line in lex if base in line.lower() and len(line) < len(base) + 15]
    if not risky or len(risky) == len(lex):
        return None
    return with_output(row, [[k, t] for k, t in row["output"] if k != "lex" or t not in risky])


def _shorten_hyde(row: Row) -> Row | None:
    """A hyde over 200 characters (one long sentence) cut at its last clause break within 200."""
    output = list(row["output"])
    for i, (kind, text) in enumerate(output):
        if kind == "hyde" and len(text) > HYDE_MAX:
            cut = max(text.rfind(mark, 0, HYDE_MAX) for mark in ("; ", ", ", " - ", " — ", ": "))
            if cut < 50:
                return None
            output[i] = ["hyde", text[:cut].rstrip(" ,;:-—") + "."]
            return with_output(row, output)
    return None


def drop_flawed_hyde(row: Row) -> Row | None:
    """Rows whose hyde is still over 200 characters, or repeats a word often enough to lose
    3 or more of the 5 repetition points."""
    hyde = pairs_of(row, "hyde")
    if hyde and (len(hyde[0]) > HYDE_MAX or h.repetition(hyde[0]) >= 3):
        return None
    return row


quote_phrase = _guarded(_quote_phrase)
shorten_hyde = _guarded(_shorten_hyde)
drop_echo_risk_lex = _guarded(_drop_echo_risk_lex)
drop_lex_without_key_term = _guarded(_drop_lex_without_key_term)
drop_longest_lex = _guarded(_drop_longest_lex)


def drop_incomplete(row: Row) -> Row | None:
    """A normal query needs hyde, lex and vec; an /only: query its one type."""
    kind, _ = only_mode(row["query"])
    if kind:
        return row if pairs_of(row, kind) else None
    return row if all(pairs_of(row, k) for k in ("hyde", "lex", "vec")) else None


def drop_low_scores(row: Row) -> Row | None:
    return row if score(row) >= MIN_SCORE else None


#: (name, step), in the order applied; ``steps_table`` reports the data after each.
STEPS: list[tuple[str, Callable[[Row], Row | None]]] = [
    ("drop template rows", drop_template_rows),
    ("remove filler words", remove_filler_words),
    ("remove template/echo lines", remove_template_lines),
    ("drop near-echo lex", drop_echo_risk_lex),
    ("drop lex without key term", drop_lex_without_key_term),
    ("drop longest lex", drop_longest_lex),
    ("quote a query phrase", quote_phrase),
    ("shorten long hyde", shorten_hyde),
    ("drop incomplete rows", drop_incomplete),
    ("drop long/repetitive hyde", drop_flawed_hyde),
    (f"drop targets < {MIN_SCORE:g}%", drop_low_scores),
]


def clean(rows: list[Row]) -> list[Row]:
    """Every step applied in order; dropped rows removed."""
    for _, step in STEPS:
        rows = [out for out in map(step, rows) if out is not None]
    return rows


def clean_row(row: Row) -> Row | None:
    for _, step in STEPS:
        row = step(row)
        if row is None:
            return None
    return row


def echo_risk(row: Row) -> bool:
    """A lex line holding the whole query with under 15 characters more: one word from an echo."""
    base = only_mode(row["query"])[1].lower()
    return any(base in line.lower() and len(line) < len(base) + 15 for line in pairs_of(row, "lex"))


def describe(rows: list[Row]) -> dict[str, Any]:
    """One table row: count, score summary, Excellent share and the habits cleaning targets."""
    import statistics

    scores = [score(row) for row in rows]
    if not scores:
        return {"rows": 0}
    lex = [(row, line) for row in rows for line in pairs_of(row, "lex")]
    normal = [row for row in rows if not only_mode(row["query"])[0]]
    return {"rows": len(rows), "mean": round(statistics.fmean(scores), 2), "median": statistics.median(scores),
            "min": min(scores), "excellent": round(sum(s >= 80 for s in scores) / len(scores), 3),
            "filler_lex": sum(h.has_filler(line, only_mode(row["query"])[1]) for row, line in lex),
            "template_lex": sum(is_template_line(line, only_mode(row["query"])[1]) for row, line in lex),
            "echo_risk_rows": sum(map(echo_risk, rows)),
            "normal_without_hyde": sum(not pairs_of(row, "hyde") for row in normal)}


def steps_table(rows: list[Row]) -> list[tuple[str, dict[str, Any]]]:
    """``describe`` of the rows before cleaning and after each step."""
    table = [("loaded", describe(rows))]
    for name, step in STEPS:
        rows = [out for out in map(step, rows) if out is not None]
        table.append((name, describe(rows)))
    return table

