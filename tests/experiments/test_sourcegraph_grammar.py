"""The constrained-decoding grammar (GBNF) and the parser it must agree with."""
from __future__ import annotations

import doctest
import random

import pytest

from querytune.experiments import get_task
from querytune.experiments.sourcegraph import (artifacts, canonical, gbnf, generate, grammar, languages,
                                               metrics, prompt, validate, values)
from querytune.experiments.sourcegraph.validate import problems_of

TASK = get_task("sourcegraph")


def test_grammar_is_gbnf_rooted_at_root():
    text = TASK.grammar()
    assert text.startswith("root ::= ")
    assert all(" ::= " in line for line in text.strip().splitlines())


def test_every_grammar_sample_parses_and_validates():
    rng = random.Random(0)
    samples = [gbnf.sample(rng) for _ in range(2000)]
    assert [(s, problems_of(s)[0].reason) for s in samples if problems_of(s)] == []
    assert all(gbnf.accepts(s) for s in samples[:200])
    assert len(set(samples)) > 1500


@pytest.mark.parametrize("query", ["lang:python async:yes", 'type:commit after:\\"1 week ago\\"',
                                   "author:erik fix", "foo or", "lang:go foo\nbar", "case:yes case:yes x"])
def test_grammar_rejects_what_the_validator_rejects(query):
    assert not gbnf.accepts(query)


def test_grammar_accepts_typical_answers():
    for query in ['lang:python "async def"', 'type:commit repo:sourcegraph author:erik after:"1 week ago"',
                  "file:config", "type:diff select:commit.diff.added lang:go time.Sleep", "repo:has.path(go\\.mod$)"]:
        assert gbnf.accepts(query), query


def test_xgrammar_compiles_the_grammar_and_agrees_with_the_sampler():
    xgrammar = pytest.importorskip("xgrammar", reason="xgrammar ships with the gpu extra (vLLM)")
    from xgrammar.testing import _is_grammar_accept_string

    compiled = xgrammar.Grammar.from_ebnf(TASK.grammar())
    rng = random.Random(1)
    assert all(_is_grammar_accept_string(compiled, gbnf.sample(rng)) for _ in range(100))
    assert not _is_grammar_accept_string(compiled, "lang:python async:yes")


@pytest.mark.parametrize("module", [artifacts, canonical, gbnf, generate, grammar, languages, metrics, prompt,
                                    validate, values])
def test_module_doctests_hold(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
