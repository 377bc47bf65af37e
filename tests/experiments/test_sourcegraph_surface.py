"""The surface layer: a third of requests typed the way people type them, every value the gold
carries kept verbatim, and each variation present at its own modest share."""
from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from querytune.datasets.sourcegraph import surface
from querytune.datasets.sourcegraph import vocab as v
from querytune.experiments.sourcegraph import generate

N = 6000
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"}


@pytest.fixture(scope="module")
def varied() -> list[tuple[str, str, list[str], str]]:
    """(request before the layer, after it, the variations that changed it, gold) for the rows at seed 0."""
    calls = []

    def recording(rng, request, query):
        after, kinds = surface.vary(rng, request, query)
        calls.append((request, after, kinds, query))
        return after, kinds

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "vary", recording)
        kept = {r["request"] for r in generate.examples(N, seed=0)}
    rows, seen = [], set()
    for call in calls:  # draws the dedupe threw away were varied too: keep the rows it kept
        if call[1] in kept and call[1] not in seen:
            rows.append(call)
            seen.add(call[1])
    return rows


def _carried(request: str, query: str):
    """The request's words the gold holds, and whether it holds them with the same capitals."""
    gold = re.sub(r"(?<![\w-])-?(lang|l|language):\S+", "", query.replace("\\s", " ")).replace("\\", "")
    for token in request.split():
        core = token.strip(".,;?!'\"()")
        found = core and core.lower() in gold.lower() and re.search(rf"(?<!\w){re.escape(core)}(?!\w)", gold, re.I)
        if found:
            yield core, found.group() == core


def test_every_value_the_gold_carries_is_kept_verbatim(varied):
    assert len(varied) == N
    lost = [(before, after, word) for before, after, kinds, query in varied if kinds
            for word, exact in _carried(before, query)
            if not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", after, 0 if exact else re.I)]
    assert lost == []
    assert all(not re.search("[A-Z]", re.sub(r"\b(AND|OR|NOT)\b", "", query))
               for _, _, kinds, query in varied if "lowercase" in kinds)


def test_a_third_of_requests_are_varied(varied):
    assert all((before != after) == bool(kinds) for before, after, kinds, _ in varied)
    assert 0.28 <= sum(bool(kinds) for _, _, kinds, _ in varied) / N <= 0.4  # about 31%, drawn per row


def test_each_variation_occurs_at_a_modest_share(varied):
    shares = Counter(kind for _, _, kinds, _ in varied for kind in kinds)
    assert {kind: shares[kind] / N for kind in surface.SHARES if not 0.02 <= shares[kind] / N <= 0.12} == {}
    typos = [(b, a) for b, a, kinds, _ in varied if kinds == ["typo"]]
    assert all(len(b) == len(a) and sorted(b) == sorted(a) for b, a in typos)  # two letters swapped, no more


def test_languages_are_abbreviated_only_to_names_the_language_table_accepts():
    names = {name.lower(): lang for lang, spoken in v.LANGUAGES for name in spoken}
    assert {word: short for word, short in v.ABBREVIATIONS.items()
            if word in names and short not in {n.lower() for n in v.LANG_NAMES[names[word]]}} == {}
    assert not v.TYPO_WORDS & (set(names) | MONTHS)


def test_a_carried_word_survives_every_variation():
    class Always(random.Random):
        def random(self) -> float:
            return 0.0  # every variation is tried

    request = "Show me the UserService functions in the repositories, please"
    assert surface.vary(Always(), request, "UserService") == (
        "Show UserService funcs in repos pls", ["abbreviation", "filler", "punctuation"])
    assert surface.vary(Always(), "find the Config loader", "config")[0] == "find config loader"
