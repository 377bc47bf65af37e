"""Grammar-constrained decoding for ``transformers.generate``, with llguidance.

The same Lark grammar that vLLM's ``guidance`` backend enforces on GPU, applied on CPU
as a logits processor: before each step every row's logits lose the tokens its grammar
matcher forbids. llguidance is what vLLM uses too, so CPU and GPU answers are held to
one language by one engine. A mask costs about 0.2 ms of CPU at the median and under 1 ms
at the p99 once the lexer states it needs exist (each is built the first time any copy of the
matcher meets it, up to a few ms, BENCHMARKS.md), next to tens of milliseconds for a forward
pass of the 135M default model.

On GPU, :func:`vllm_plugin` gives vLLM's ``guidance`` backend the same sharing: vLLM 0.26
builds a new ``LLMatcher`` from the grammar text for every request (no cache, unlike its
xgrammar backend), ~20-60 ms of CPU each for the sourcegraph grammar; with the plugin a
request takes a copy of one matcher built per distinct grammar text (~0.05 ms).
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from functools import lru_cache


def available() -> bool:
    """Whether llguidance is installed (it comes with vLLM and the ``dev`` extra)."""
    try:
        import llguidance  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer, vocab_size: int):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)


@lru_cache(maxsize=8)
def _prototype(tokenizer, grammar: str, vocab_size: int):
    """One compiled matcher per grammar; requests take copies, which share the lexer states
    built so far (a fresh matcher costs ~25 ms and slower first masks, BENCHMARKS.md)."""
    import llguidance

    matcher = llguidance.LLMatcher(_ll_tokenizer(tokenizer, vocab_size), llguidance.grammar_from("grammar", grammar))
    if matcher.get_error():
        raise ValueError(f"llguidance refuses the grammar: {matcher.get_error().splitlines()[0]}")
    matcher.compute_bitmask()  # the first step's lexer states (~2-3 ms of the sourcegraph grammar), built once here
    return matcher


def new_matcher(tokenizer, grammar: str, vocab_size: int):
    """A matcher at the grammar's start, a copy of the compiled one: for replaying an answer's
    tokens to check that a decoder held it to the grammar."""
    return _prototype(tokenizer, grammar, vocab_size).deep_copy()


class GrammarLogitsProcessor:
    """A ``LogitsProcessor``: rows of a batch each follow ``grammar`` from the first new token.

    Rows that already ended (end-of-turn, then padding) are left alone.
    """

    def __init__(self, tokenizer, grammar: str, vocab_size: int):
        self.prototype = _prototype(tokenizer, grammar, vocab_size)  # Lark or GBNF, read as vLLM reads it
        self.vocab_size = vocab_size
        self.matchers: list | None = None

    def __call__(self, input_ids, scores):
        import llguidance.torch

        if self.matchers is None:
            self.matchers = [self.prototype.deep_copy() for _ in range(len(input_ids))]
            self.bitmask = llguidance.torch.allocate_token_bitmask(len(input_ids), self.vocab_size)
        else:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist()):
                if not matcher.is_stopped():
                    matcher.consume_token(token)
        live = [row for row, matcher in enumerate(self.matchers) if not matcher.is_stopped()]
        for row in live:
            if self.matchers[row].get_error():
                raise ValueError(f"grammar matcher failed: {self.matchers[row].get_error().splitlines()[0]}")
            llguidance.torch.fill_next_token_bitmask(self.matchers[row], self.bitmask, row)
        if not live:
            return scores
        masked = scores[live].clone()
        llguidance.torch.apply_token_bitmask_inplace(masked, self.bitmask[live].to(masked.device))
        scores[live] = masked
        return scores


# --------------------------------------------------------------------------- vLLM
#: distinct grammar texts whose compiled matcher the vLLM plugin keeps (the tasks' grammars
#: hold nothing of a request, so a deployment needs one per task)
VLLM_CACHED_GRAMMARS = 8


def vllm_plugin() -> None:
    """vLLM general plugin (entry point ``vllm.general_plugins``, loaded in every vLLM process):
    in the engine core, ``GuidanceBackend.compile_grammar`` builds one matcher per distinct
    grammar text and hands each request a copy of it; in the front end, the check vLLM runs on
    each request's grammar (``LLMatcher.validate_grammar`` without a tokenizer, a full compile)
    is remembered per grammar text.

    Requests other than ``grammar`` ones (JSON, regex, ...) and grammars llguidance refuses
    take vLLM's own path. Installing twice is a no-op; without vLLM it does nothing.
    """
    try:
        from vllm.v1.structured_output import backend_guidance
        from vllm.v1.structured_output.backend_types import StructuredOutputOptions
    except ImportError:
        return
    _remember_validation()
    backend = backend_guidance.GuidanceBackend
    if getattr(backend.compile_grammar, "querytune_shared", False):
        return
    compile_fresh = backend.compile_grammar
    lock = threading.Lock()  # vLLM compiles in a thread pool

    def compile_grammar(self, request_type, grammar_spec, *args, **kwargs):
        if request_type != StructuredOutputOptions.GRAMMAR:
            return compile_fresh(self, request_type, grammar_spec, *args, **kwargs)
        cache = self.__dict__.setdefault("_querytune_matchers", OrderedDict())  # per backend: per tokenizer
        with lock:
            prototype = cache.get(grammar_spec)
            if prototype is not None:
                cache.move_to_end(grammar_spec)
                return dataclasses.replace(prototype, ll_matcher=prototype.ll_matcher.deep_copy())
        grammar = compile_fresh(self, request_type, grammar_spec, *args, **kwargs)
        if not grammar.ll_matcher.get_error():
            prototype = grammar.ll_matcher.deep_copy()  # copied before any token: the request consumes the original
            prototype.compute_bitmask()  # the first step's lexer states, shared by the copies to come
            with lock:
                cache[grammar_spec] = dataclasses.replace(grammar, ll_matcher=prototype)
                while len(cache) > VLLM_CACHED_GRAMMARS:
                    cache.popitem(last=False)
        return grammar

    compile_grammar.querytune_shared = True
    backend.compile_grammar = compile_grammar


def _remember_validation() -> None:
    """``llguidance.LLMatcher.validate_grammar(text)`` (no tokenizer, default limits) answered once
    per text: its answer depends on nothing else, and vLLM's front end asks it on every request."""
    import llguidance

    validate = llguidance.LLMatcher.validate_grammar
    if getattr(validate, "querytune_remembered", False):
        return

    @lru_cache(maxsize=VLLM_CACHED_GRAMMARS)
    def validated(grammar: str) -> str:
        return validate(grammar, None)

    def validate_grammar(grammar, tokenizer=None, *, limits=None):
        if tokenizer is None and limits is None and isinstance(grammar, str):
            return validated(grammar)
        return validate(grammar, tokenizer, limits=limits)

    validate_grammar.querytune_remembered = True
    llguidance.LLMatcher.validate_grammar = staticmethod(validate_grammar)
