"""The rendered grammar texts are the same bytes in every process.

vLLM compiles a grammar once per distinct grammar string and llguidance's matcher cache in
``platform.constrained`` is keyed by it too, so text that changed with the hash seed (a set
iterated while emitting) would compile anew in each replica and make runs incomparable.
"""
from __future__ import annotations

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
    """The served grammar holds nothing of a request (no candidate repos, no date): one string per
    task, rendered once, so the matcher caches (CPU, and the vLLM plugin) hold one entry a task."""
    from querytune.experiments import get_task

    for name in ("sourcegraph", "qmd"):
        task = get_task(name)
        assert task.grammar() is task.grammar()
        assert task.grammar("gbnf") is task.grammar("gbnf")


def _accepts(grammar: str, text: str) -> bool:
    """Whether llguidance takes ``text`` (in the tokenizer's own tokens) and may end after it."""
    from tests.experiments import grammar_engines as engines

    matcher = engines.ll_matcher(grammar)
    matcher.reset()
    try:
        ids = engines.tokenizer()(text, add_special_tokens=False).input_ids
        if matcher.validate_tokens(ids) < len(ids):  # checked first: a refused token would end the matcher
            return False
        return matcher.consume_tokens(ids) and matcher.is_accepting()
    finally:
        matcher.reset()


def _edits(text: str, rng) -> list[str]:
    """``text`` with one character dropped, one inserted and two swapped (mostly invalid)."""
    pool = " ()\"'-:/|*.aZ9"
    i = rng.randrange(len(text)) if text else 0
    j = rng.randrange(len(text) + 1)
    swapped = list(text)
    if len(text) > 1:
        k = rng.randrange(len(text) - 1)
        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
    return [text[:i] + text[i + 1:], text[:j] + rng.choice(pool) + text[j:], "".join(swapped)]


def test_shared_pieces_keep_the_language(monkeypatch):
    """The Lark text with repeated pieces named (served) and written out (as before) take the same
    strings: grammar samples, real queries, and edits of both that are mostly invalid."""
    import random

    from querytune.experiments import get_task, grammars
    from querytune.experiments.qmd import constrain as qmd
    from querytune.experiments.sourcegraph import constrain as sourcegraph

    rng = random.Random(0)
    for module, real in ((sourcegraph, [r["query"] for r in get_task("sourcegraph").dev()[:80]]),
                         (qmd, [get_task("qmd").target(r) for r in get_task("qmd").generate(20, seed=0)])):
        shared = grammars.to_lark(module.rules())
        with monkeypatch.context() as patch:
            patch.setattr(grammars, "SHARED_MIN_CHARS", 10**9)
            written_out = grammars.to_lark(module.rules())
        assert "SHARED_" not in written_out and len(shared) <= len(written_out)
        texts = real + [module.sample(rng) for _ in range(80)]
        texts += [edit for text in texts for edit in _edits(text, rng)]
        differ = [t for t in texts if _accepts(shared, t) != _accepts(written_out, t)]
        assert differ == []
        assert sum(_accepts(shared, t) for t in texts) > len(texts) / 4  # both kinds are in the sample
