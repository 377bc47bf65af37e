"""Grammar-held greedy decoding on CPU equals free decoding wherever the free answer is valid.

A tiny random Qwen3 gets a LoRA trained for a few seconds on some sourcegraph and qmd
prompts, so that some greedy answers are right and some are not. A grammar that fits
the language changes nothing about the answers that parse.
"""
from __future__ import annotations

import pytest

pytest.importorskip("llguidance", reason="llguidance is in the dev extra (pip install -e '.[dev]')")

from querytune.experiments import get_task  # noqa: E402
from querytune.experiments.base import ParseError  # noqa: E402
from querytune.platform import constrained, generation, models  # noqa: E402

STEPS = 30  # enough for the tiny model to learn some of 7 short targets
QMD = [("auth", "lex: auth config\nvec: how do I set up login"), ("rust borrow", "lex: borrow checker"),
       ("tax forms", "hyde: File form 1040 by April.\nvec: which tax forms do I need")]


def _train(model, tokenizer, pairs):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=3e-3)
    batch = []
    for messages, target in pairs:
        prompt_ids = tokenizer(generation.render(tokenizer, messages), add_special_tokens=False).input_ids
        target_ids = tokenizer(target + tokenizer.eos_token, add_special_tokens=False).input_ids
        batch.append((torch.tensor([prompt_ids + target_ids]), torch.tensor([[-100] * len(prompt_ids) + target_ids])))
    for _ in range(STEPS):  # every row in every step: stable enough at this learning rate
        for ids, labels in batch:
            peft_model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return peft_model.merge_and_unload().eval()


@pytest.fixture(scope="module")
def trained(tiny_model):
    model, tokenizer, _ = models.load_model(tiny_model, device="cpu", dtype="float32")
    tasks = {name: get_task(name) for name in ("sourcegraph", "qmd")}
    sourcegraph = [(tasks["sourcegraph"].messages(r), r["query"]) for r in tasks["sourcegraph"].dev()[:4]]
    # short answers of the qmd format: the real hyde passages are too long for a few seconds of training
    qmd = [(tasks["qmd"].messages({"query": query}), target) for query, target in QMD]
    return _train(model, tokenizer, sourcegraph + qmd), tokenizer, tasks, {"sourcegraph": sourcegraph, "qmd": qmd}


def _parses(task, text: str) -> bool:
    try:
        task.parse(text)
    except ParseError:
        return False
    return True


@pytest.mark.parametrize("task_name", ["sourcegraph", "qmd"])
def test_constrained_greedy_equals_free_greedy_when_the_free_answer_parses(trained, task_name):
    model, tokenizer, tasks, pairs = trained
    task, free, held = tasks[task_name], [], []
    for messages, target in pairs[task_name]:
        # a few seconds of training teach the text better than the stop: decode the target's length
        budget = len(tokenizer(target, add_special_tokens=False).input_ids)
        processor = constrained.GrammarLogitsProcessor(tokenizer, task.grammar(), model.config.vocab_size)
        for out, processors in ((free, None), (held, [processor])):
            out += [text for text, _ in generation.generate(model, tokenizer, [messages], max_new_tokens=budget,
                                                           logits_processor=processors)]
    parsing = [i for i, text in enumerate(free) if _parses(task, text)]
    assert parsing, f"the tiny model learned nothing: {free}"  # else the comparison is empty
    assert [held[i] for i in parsing] == [free[i] for i in parsing]


# --------------------------------------------------------------------------- the vLLM plugin
def _stub_vllm(monkeypatch):
    """vLLM 0.26's guidance backend as far as the plugin touches it (``vllm/v1/structured_output/
    backend_guidance.py``: dataclasses, ``compile_grammar(request_type, grammar_spec, ...)`` building a
    new ``LLMatcher`` each call), so the plugin runs on CPU without vLLM."""
    import enum
    import sys
    import types
    from dataclasses import dataclass, field
    from typing import Any

    import llguidance

    class StructuredOutputOptions(enum.Enum):
        JSON = enum.auto()
        GRAMMAR = enum.auto()

    @dataclass
    class GuidanceGrammar:
        ll_matcher: Any
        ll_tokenizer: Any
        vocab_size: int
        printed_error: bool = False
        terminated: bool = False
        rollback_lag: int = 0

    @dataclass
    class GuidanceBackend:
        ll_tokenizer: Any
        vocab_size: int
        compiled: list = field(default_factory=list)  # grammar texts compiled from scratch

        def compile_grammar(self, request_type, grammar_spec, stop_token_ids=None):
            self.compiled.append(grammar_spec)
            kind = "grammar" if request_type == StructuredOutputOptions.GRAMMAR else "json"
            matcher = llguidance.LLMatcher(self.ll_tokenizer, llguidance.grammar_from(kind, grammar_spec))
            return GuidanceGrammar(matcher, self.ll_tokenizer, self.vocab_size)

    package = "vllm.v1.structured_output"
    contents = {"vllm": {}, "vllm.v1": {}, package: {},
                f"{package}.backend_guidance": {"GuidanceBackend": GuidanceBackend},
                f"{package}.backend_types": {"StructuredOutputOptions": StructuredOutputOptions}}
    for name, attributes in contents.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    return GuidanceBackend, StructuredOutputOptions


def test_vllm_plugin_compiles_a_grammar_once_and_hands_out_independent_copies(monkeypatch):
    import llguidance
    import llguidance.hf

    GuidanceBackend, Options = _stub_vllm(monkeypatch)
    validate, validated = llguidance.LLMatcher.validate_grammar, []

    def counted(grammar, tokenizer=None, *, limits=None):
        validated.append(grammar)
        return validate(grammar, tokenizer, limits=limits)

    monkeypatch.setattr(llguidance.LLMatcher, "validate_grammar", staticmethod(counted))  # the real one after
    constrained.vllm_plugin()
    constrained.vllm_plugin()  # a second load (every vLLM process loads plugins) changes nothing
    tokenizer = models.load_tokenizer(models.resolve("default"))
    backend = GuidanceBackend(llguidance.hf.from_tokenizer(tokenizer), len(tokenizer))
    grammar = get_task("qmd").grammar()

    first, second = (backend.compile_grammar(Options.GRAMMAR, grammar) for _ in range(2))
    assert backend.compiled == [grammar]  # the second request took a copy
    assert first.ll_matcher is not second.ll_matcher and (first.terminated, first.rollback_lag) == (False, 0)
    for token in tokenizer("lex: a", add_special_tokens=False).input_ids:
        assert first.ll_matcher.consume_token(token)
    third = backend.compile_grammar(Options.GRAMMAR, grammar)
    # copies start where the grammar starts, whatever another request has consumed
    assert third.ll_matcher.compute_bitmask() == second.ll_matcher.compute_bitmask() \
        != first.ll_matcher.compute_bitmask()

    backend.compile_grammar(Options.JSON, '{"type": "object"}')
    backend.compile_grammar(Options.JSON, '{"type": "object"}')
    assert backend.compiled[1:] == ['{"type": "object"}'] * 2  # other request kinds: vLLM's own path

    # the front end's check of each request's grammar, as vLLM calls it: answered once per text
    lark = llguidance.grammar_from("grammar", grammar)
    assert llguidance.LLMatcher.validate_grammar(lark, None) == llguidance.LLMatcher.validate_grammar(lark) == ""
    assert validated == [lark]
    assert llguidance.LLMatcher.validate_grammar(llguidance.grammar_from("grammar", "start: NOPE")) != ""
    assert llguidance.LLMatcher.validate_grammar(lark, backend.ll_tokenizer) == ""  # with a tokenizer: asked again
    assert len(validated) == 3


def test_vllm_plugin_is_declared_as_an_entry_point():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    section = text.split('[project.entry-points."vllm.general_plugins"]\n', 1)[1].split("\n[", 1)[0]
    assert 'querytune_grammar_matchers = "querytune.platform.constrained:vllm_plugin"' in section
    assert callable(constrained.vllm_plugin)


def test_hf_backend_holds_every_batch_to_the_grammar(tiny_model):
    """`querytune eval --backend hf --grammar`: a processor per batch (its matchers follow one batch's rows)."""
    from querytune.platform.backends import HFBackend

    task = get_task("qmd")
    conversations = [task.messages({"query": q}) for q in ("auth", "rust borrow", "tax forms")]
    backend = HFBackend(tiny_model, batch_size=2, grammar=task.grammar())  # 2 + 1 rows: two batches
    answers = [c.text for c in backend.complete(conversations, max_new_tokens=24)]
    assert [a for a in answers if not _parses(task, a)] == []  # an untrained model, held to the format
