"""The qmd decoding grammar: every rewarded format in, nothing the parser rejects, token by token."""
from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from querytune.experiments import get_task
from querytune.experiments.base import ParseError
from querytune.experiments.qmd import constrain
from querytune.experiments.qmd.parse import parse
from querytune.experiments.qmd.score import score_expansion
from tests.experiments import grammar_engines as engines

TASK = get_task("qmd")
LARK, GBNF = TASK.grammar("lark"), TASK.grammar("gbnf")
LINES = {"lex": "auth config", "vec": "how do I set up login", "hyde": "Set AUTH_SECRET in the env file first."}


@pytest.fixture(scope="module")
def targets() -> list[str]:
    rows = TASK.generate(400, seed=0)
    return [TASK.target(row) for row in rows]


def _answer(kinds) -> str:
    return "\n".join(f"{kind}: {LINES[kind]}" for kind in kinds)


def _formats():
    """Every multiset of 0-3 lex, 0-3 vec, 0-1 hyde lines (at least one), in two orders."""
    for lex, vec, hyde in itertools.product(range(4), range(4), range(2)):
        kinds = ["hyde"] * hyde + ["lex"] * lex + ["vec"] * vec
        if kinds:
            yield kinds
            yield kinds[::-1]


def test_every_training_target_is_taken_token_by_token(targets):
    """The canonical hyde-lex-vec order, ending without a newline where the model ends its turn."""
    assert [t for t in targets if not engines.llguidance_accepts(LARK, engines.segmentations(t)[0])] == []
    assert [t for t in targets[:60] if not engines.xgrammar_accepts(GBNF, engines.segmentations(t)[0])] == []


def test_greedy_resegmentations_of_targets_are_taken(targets):
    assert [t for t in targets[:100] if not engines.llguidance_accepts(LARK, engines.segmentations(t)[1])] == []


@pytest.mark.parametrize("kinds", list(_formats()), ids=lambda k: "-".join(k))
def test_every_rewarded_format_is_taken(kinds):
    answer = _answer(kinds)
    parse(answer)
    assert engines.llguidance_accepts(LARK, engines.segmentations(answer)[0])


@pytest.mark.parametrize("answer", ["", "lex: a\n", "Sure:\nlex: a", "lex: a\n\nvec: b", "lex:a", "lex: ",
                                    "lex: a <|im_end", "\n".join(["lex: a"] * 4), "hyde: a\nhyde: b",
                                    "LEX: a", "lex: a\nnote: b"])
def test_grammar_refuses_answers_outside_the_format(answer):
    assert not engines.llguidance_accepts(LARK, engines.segmentations(answer)[0])
    assert not engines.xgrammar_accepts(GBNF, engines.segmentations(answer)[0])


def test_an_answer_may_end_after_any_line():
    """The old grammar wanted a newline after the last line, masking end-of-turn there."""
    assert engines.llguidance_accepts(LARK, engines.segmentations("hyde: Set it first.")[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_grammar_sample_parses_and_scores(seed):
    answer = constrain.sample(random.Random(seed))
    try:
        parsed = parse(answer)
    except ParseError as error:
        raise AssertionError(f"{answer!r}: {error}") from None
    assert not parsed.warnings
    assert score_expansion("auth setup", answer).rating != "Failed" or not parsed.value["lex"]
