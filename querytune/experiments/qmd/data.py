"""The real QMD training rows as examples: repaired, deduplicated, scored, split.

Every target is checked with the parser; a row whose target breaks the format is
repaired when the fix is mechanical (a newline inside a text, a type in the wrong case,
an empty pair) and dropped otherwise. Queries in the legacy ``X only: lex`` syntax (336
shared rows) are rewritten to ``X /only:lex``, the syntax the app and the scorer know:
left alone, the scorer grades them as normal queries missing lex or vec lines.

Duplicates (same lowercased query) keep the row the server's prompt matches best: one
without an ``intent`` (serving never sends one), then the best-scoring target, then the
first in file order.

Splits are fixed by the seed before any filter or cap (every tenth row of the seeded
shuffle is ``val``), so the validation rows stay the same whatever ``n``,
``min_target_score`` or ``max_hyde_chars`` a run picks; ``min_target_score`` filters
training rows only, for the same reason.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from querytune.experiments.base import Example, ParseError
from querytune.experiments.qmd import clean as cleaning
from querytune.experiments.qmd.parse import KINDS, only_mode, parse
from querytune.experiments.qmd.prompt import render, target
from querytune.experiments.qmd.score import score_expansion

DATA_DIR = Path(__file__).resolve().parents[2] / "datasets" / "qmd"
#: Rows we wrote (short queries, named entities): training-only, outside the glob of the shared files.
ADDED_DIR = DATA_DIR / "added"
VAL_EVERY = 10  # every 10th row of the seeded shuffle is validation: a 90/10 split at any n
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_LEGACY_ONLY = re.compile(r"\s+only:\s*(lex|vec|hyde)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class LoadReport:
    """What loading did to the raw rows; ``kept`` = raw - dropped - duplicates."""

    raw: int
    repaired: int
    dropped: int
    duplicates: int
    kept: int

    def __str__(self) -> str:
        return (f"{self.raw} raw rows: {self.repaired} repaired, {self.dropped} dropped, "
                f"{self.duplicates} duplicate queries removed, {self.kept} kept")


def read_raw(data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    """Every row of every ``*.jsonl`` file, files in name order."""
    rows = []
    for path in sorted(Path(data_dir).glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    if not rows:
        raise FileNotFoundError(f"{data_dir}: no *.jsonl rows; the QMD data files ship in querytune/datasets/qmd")
    return rows


def _pair(pair: Any) -> list[str] | None:
    """``[type, text]`` with the type lowercased and the text on one line; None if unusable."""
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
        return None
    kind, text = pair[0].strip().lower(), " ".join(line.strip() for line in pair[1].splitlines()).strip()
    return [kind, text] if kind in KINDS else None


def _query(text: str) -> str:
    """The stripped query, a legacy ``only: lex`` suffix rewritten as ``/only:lex``."""
    query = text.strip()
    if only_mode(query)[0]:
        return query
    return _LEGACY_ONLY.sub(lambda match: f" /only:{match.group(1).lower()}", query)


def repair(row: dict[str, Any]) -> dict[str, Any] | None:
    """The row with its target in valid format, or None when no mechanical fix exists."""
    query, output = row.get("query"), row.get("output")
    if not isinstance(query, str) or not query.strip() or not isinstance(output, list):
        return None
    pairs = [_pair(pair) for pair in output]
    if None in pairs:
        return None
    pairs = [pair for pair in pairs if pair[1]]
    try:
        parse(render(pairs))
    except ParseError:
        return None
    return {**row, "query": _query(query), "output": pairs}


def target_score(query: str, output: list) -> float:
    """The scorer's percentage for a row's target as the model is trained on it."""
    return score_expansion(query, target({"output": output})).pct


def dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per lowercased query: no intent first, then the best target, then the first."""
    best: dict[str, tuple[tuple[bool, float], dict]] = {}
    for row in rows:
        rank = ("intent" not in row, target_score(row["query"], row["output"]))
        key = row["query"].lower()
        if key not in best or rank > best[key][0]:
            best[key] = (rank, row)
    return [row for _, row in best.values()]


def cap_hyde(text: str, max_chars: int) -> str:
    """The longest run of whole sentences within ``max_chars``; the first sentence when
    even that is longer (a passage is never cut mid-sentence)."""
    if len(text) <= max_chars:
        return text
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    fitting = [end for end in ends if end <= max_chars]
    if fitting:
        return text[:fitting[-1]]
    return text[:ends[0]] if ends else text


def to_example(row: dict[str, Any], max_hyde_chars: int | None = None) -> Example:
    output = [[kind, cap_hyde(text, max_hyde_chars) if kind == "hyde" and max_hyde_chars else text]
              for kind, text in row["output"]]
    return {"query": row["query"], "output": output, "category": row.get("category") or "",
            "target_score": target_score(row["query"], output)}


def load(max_hyde_chars: int | None = None, data_dir: Path = DATA_DIR) -> tuple[list[Example], LoadReport]:
    """Every usable, distinct row as an example (no split yet), and what happened to the rest."""
    raw = read_raw(data_dir)
    fixed = [repair(row) for row in raw]
    usable = [row for row in fixed if row is not None]
    unique = dedupe(usable)
    report = LoadReport(raw=len(raw), repaired=sum(f is not None and f != r for r, f in zip(raw, fixed)),
                        dropped=len(raw) - len(usable), duplicates=len(usable) - len(unique), kept=len(unique))
    return [to_example(row, max_hyde_chars) for row in unique], report


def assign_splits(examples: list[Example], seed: int) -> list[Example]:
    """Examples in seeded-shuffle order with a ``split`` column: every tenth is ``val``."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [{**examples[i], "split": "val" if position % VAL_EVERY == 0 else "train"}
            for position, i in enumerate(order)]


def normal_form(query: str) -> str:
    """Lowercase words of a query without its /only: suffix: what "the same query" means
    when checking dev queries against the training files."""
    return " ".join(re.findall(r"[\w+#.'-]+", only_mode(query)[1].lower()))


def training_queries() -> frozenset[str]:
    """``normal_form`` of every query in the training files, shared and added."""
    return frozenset(normal_form(str(row.get("query", ""))) for folder in (DATA_DIR, ADDED_DIR)
                     for row in read_raw(folder))


def read_added(max_hyde_chars: int | None = None, added_dir: Path = ADDED_DIR) -> list[Example]:
    """Our own rows, repaired and scored like the shared ones; every one a training row."""
    rows = [repair(row) for row in read_raw(added_dir)]
    if None in rows:
        raise ValueError(f"{added_dir}: row {rows.index(None) + 1} has no usable target")
    return [{**to_example(row, max_hyde_chars), "split": "train"} for row in rows]


def clean_rows(rows: list[Example], added: list[Example]) -> list[Example]:
    """``clean.clean_row`` on every row: a training row it drops goes; a validation row
    keeps its place (the split stays fixed) with the cleaned target where there is one.
    Added rows whose query a kept shared row already has are skipped."""
    out = []
    for row in rows:
        cleaned = cleaning.clean_row(row)
        if cleaned is None and row["split"] == "val":
            cleaned = row
        if cleaned is not None:
            out.append({**cleaned, "target_score": target_score(cleaned["query"], cleaned["output"])})
    seen = {row["query"].lower() for row in out}  # every val query is here: none becomes a training row
    return out + [row for row in added if row["query"].lower() not in seen]


def build(n: int, seed: int, min_target_score: float | None = None,
          max_hyde_chars: int | None = None, clean: bool = False) -> tuple[list[Example], LoadReport]:
    """At most ``n`` split examples; training targets below ``min_target_score`` (percent) dropped.

    ``clean`` repairs or drops targets that lose points (``clean.py``) and appends our own
    rows (``datasets/qmd/added``) to the training split; validation rows stay the same.
    """
    if n < 1:
        raise ValueError(f"n={n}: must be >= 1 (an n above the number of distinct rows gives all of them)")
    if max_hyde_chars is not None and max_hyde_chars < 1:
        raise ValueError(f"max_hyde_chars={max_hyde_chars}: must be >= 1 (try 200, the scorer's ideal maximum)")
    examples, report = load(max_hyde_chars)
    rows = assign_splits(examples, seed)
    if clean:
        rows = clean_rows(rows, read_added(max_hyde_chars))
    if min_target_score is not None:
        rows = [row for row in rows if row["split"] == "val" or row["target_score"] >= min_target_score]
    return rows[:n], report


def main() -> None:
    """``python -m querytune.experiments.qmd.data``: what each cleaning step (``clean.py``) does to the
    shared rows, as a Markdown table."""
    examples, _ = load(max_hyde_chars=cleaning.HYDE_MAX)
    table = cleaning.steps_table(examples)
    columns = list(table[0][1])
    print("| step | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in table:
        print(f"| {name} | " + " | ".join(str(row.get(column, "")) for column in columns) + " |")


if __name__ == "__main__":
    main()
