"""The rendered grammar texts are the same bytes in every process.

vLLM compiles a grammar once per distinct grammar string and llguidance's matcher cache in
``platform.constrained`` is keyed by it too, so text that changed with the hash seed (a set
iterated while emitting) would compile anew in each replica and make runs incomparable.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

RENDER = """
import hashlib
from querytune.experiments import get_task, grammars
from querytune.experiments.sourcegraph import constrain
texts = [get_task(t).grammar(s) for t in ("sourcegraph", "qmd") for s in ("lark", "gbnf")]
texts += [grammars.to_lark(constrain.rules(pending=False)), grammars.to_gbnf(constrain.rules(pending=False))]
print(" ".join(hashlib.sha256(t.encode()).hexdigest() for t in texts))
"""


def _render(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-c", RENDER], env=env, check=True, capture_output=True,
                          text=True).stdout


def test_grammar_text_does_not_depend_on_the_hash_seed():
    first, second = _render("0"), _render("1")
    assert len(first.split()) == 6
    assert first == second


def test_grammar_text_is_the_same_for_every_request():
    """The served grammar holds nothing of a request (no candidate repos, no date): one string
    per task, so vLLM's compiled-grammar cache and the CPU matcher cache each hold one entry."""
    from querytune.experiments import get_task

    for name in ("sourcegraph", "qmd"):
        texts = {hashlib.sha256(get_task(name).grammar().encode()).hexdigest() for _ in range(2)}
        assert len(texts) == 1
