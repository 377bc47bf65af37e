"""CPU benchmark: what grammar-constrained decoding costs per request and per generated token.

vLLM computes each sequence's allowed-token mask on the CPU, once per decoding step,
with the structured-output backend the deployment names (``xgrammar`` reading the
task's GBNF, or ``guidance`` reading its Lark). This times exactly that work for each
task's grammar, with the default model's tokenizer and vocabulary size. A random-weight
model is imitated by taking, at each step, the highest of random logits among the
allowed tokens ("random"); a trained one by replaying real answers, dev golds or
training targets ("real"). Needs xgrammar and llguidance (the ``dev`` extra); no GPU.

Per request: ``guidance`` builds a fresh matcher from the grammar text, as vLLM 0.26 does
without the project's vLLM plugin; ``guidance-copy`` copies one matcher built at start-up,
as the CPU engine and the plugin do (``platform/constrained.py``). ``validate ms`` is the
check vLLM's front end runs on every request's grammar before it reaches the engine.
The Lark grammar is timed as served (repeated pieces named once, ``grammars.to_lark``)
and written out in full (``inlined``, the text before that change).

Times are CPU time of the timing thread (``time.thread_time``), so other work on shared
cores inflates them less than wall time; on a busy machine compare rows of one run.

    python -m bench.grammar_cost [--sequences 50] [--tokens 24] [--backends guidance guidance-copy] [--out DIR]
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import percentiles, results_dir, table, write

VOCAB_SIZE = 49152  # SmolLM2-135M's embedding rows (the default model)
clock = time.thread_time  # CPU seconds of this thread: llguidance and xgrammar work in the caller's thread


class XGrammar:
    """vLLM's default structured-output backend (``auto`` picks it for GBNF)."""

    def __init__(self, grammar: str, tokenizer):
        import xgrammar

        self.xg = xgrammar
        self.compiled = xgrammar.GrammarCompiler(
            xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=VOCAB_SIZE)).compile_grammar(grammar)
        self.bitmask = xgrammar.allocate_token_bitmask(1, VOCAB_SIZE)

    def start(self) -> None:
        self.matcher = self.xg.GrammarMatcher(self.compiled)

    def fill(self) -> None:
        self.matcher.fill_next_token_bitmask(self.bitmask)

    def apply(self, logits) -> None:
        self.xg.apply_token_bitmask_inplace(logits, self.bitmask)

    def accept(self, token: int) -> bool:
        return self.matcher.accept_token(token) and not self.matcher.is_terminated()


class Guidance:
    """llguidance: vLLM's ``structured_outputs_backend: guidance``, read as vLLM reads a ``grammar``."""

    def __init__(self, grammar: str, tokenizer):
        import llguidance
        import llguidance.hf
        import llguidance.torch

        self.ll = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=VOCAB_SIZE)
        self.grammar = llguidance.grammar_from("grammar", grammar)
        self.bitmask = llguidance.torch.allocate_token_bitmask(1, VOCAB_SIZE)

    def start(self) -> None:
        self.matcher = self.ll.LLMatcher(self.tokenizer, self.grammar)
        if self.matcher.get_error():  # llguidance reports a grammar it cannot use here, not by raising
            raise ValueError(self.matcher.get_error().splitlines()[0])

    def validate(self) -> None:
        """What vLLM 0.26's front end does with each request's grammar (``validate_guidance_grammar``)."""
        self.ll.LLMatcher.validate_grammar(self.grammar, None)

    def fill(self) -> None:
        self.ll.torch.fill_next_token_bitmask(self.matcher, self.bitmask, 0)

    def apply(self, logits) -> None:
        self.ll.torch.apply_token_bitmask_inplace(logits, self.bitmask)

    def accept(self, token: int) -> bool:
        return self.matcher.consume_token(token) and not self.matcher.is_stopped()


class GuidanceCopy(Guidance):
    """llguidance with each matcher copied from one built at start-up: copies share the lexer
    states built so far. The CPU engine does this, and vLLM with the project's plugin."""

    def __init__(self, grammar: str, tokenizer):
        super().__init__(grammar, tokenizer)
        self.prototype = self.ll.LLMatcher(self.tokenizer, self.grammar)

    def start(self) -> None:
        self.matcher = self.prototype.deep_copy()


#: backend -> (engine, the grammar syntax it reads)
BACKENDS = {"xgrammar": (XGrammar, "gbnf"), "guidance": (Guidance, "lark"),
            "guidance-copy": (GuidanceCopy, "lark")}


def measure(backend: str, grammar: str, tokenizer, sequences: int, tokens: int, seed: int = 0) -> dict[str, Any]:
    import torch

    began = clock()
    engine = BACKENDS[backend][0](grammar, tokenizer)
    compile_s = clock() - began
    generator = torch.Generator().manual_seed(seed)
    mask_ms, lengths, start_ms, validate_ms = [], [], [], []
    for _ in range(sequences):
        if hasattr(engine, "validate"):
            began = clock()
            engine.validate()
            validate_ms.append((clock() - began) * 1e3)
        began = clock()
        engine.start()  # one matcher per request
        start_ms.append((clock() - began) * 1e3)
        produced = 0
        while produced < tokens:
            began = clock()
            engine.fill()
            mask_ms.append((clock() - began) * 1e3)
            logits = torch.randn(1, VOCAB_SIZE, generator=generator)
            engine.apply(logits)
            produced += 1
            if not engine.accept(int(logits.argmax())):
                break
        lengths.append(produced)
    return {"compile_s": compile_s, "matcher_ms": percentiles(start_ms), "validate_ms": percentiles(validate_ms),
            "mask_ms": percentiles(mask_ms), "tokens_per_answer": percentiles(lengths), "grammar_chars": len(grammar)}


def measure_replay(backend: str, grammar: str, tokenizer, answers: list[str]) -> dict[str, Any]:
    """Mask times along real answers (dev golds, training targets): the states a trained model visits.

    Twice: ``first`` meets each lexer state for the first time in this process (llguidance builds
    them lazily); ``again`` is the same answers once more, what a long-running server pays when
    its matchers share those states (``guidance-copy``; ``guidance`` starts from scratch each time).
    """
    engine = BACKENDS[backend][0](grammar, tokenizer)
    passes = {}
    for name in ("first", "again"):
        mask_ms = []
        for answer in answers:
            engine.start()
            for token in tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]:
                began = clock()
                engine.fill()
                mask_ms.append((clock() - began) * 1e3)
                if not engine.accept(token):
                    break
        passes[name] = percentiles(mask_ms)
    return passes


def real_answers(task_name: str, count: int) -> list[str]:
    from querytune.experiments import get_task

    task = get_task(task_name)
    if task_name == "sourcegraph":
        return [row["query"] for row in task.dev()][:count]
    return [task.target(row) for row in task.generate(count, seed=0)]


def grammars(task_name: str, syntax: str) -> dict[str, str]:
    """The grammar texts to time: as served and, for Lark, with every repeated piece written out."""
    from querytune.experiments import get_task
    from querytune.experiments import grammars as g
    from querytune.experiments.qmd import constrain as qmd
    from querytune.experiments.sourcegraph import constrain as sourcegraph

    texts = {"served": get_task(task_name).grammar(syntax)}
    if syntax == "lark":
        module = sourcegraph if task_name == "sourcegraph" else qmd
        shortest, g.SHARED_MIN_CHARS = g.SHARED_MIN_CHARS, 10**9
        try:
            texts["inlined"] = g.to_lark(module.rules())
        finally:
            g.SHARED_MIN_CHARS = shortest
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=50, help="answers generated per grammar")
    parser.add_argument("--tokens", type=int, default=24, help="token budget of an answer")
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS),
                        help="grammar engines to time (xgrammar takes minutes on the sourcegraph grammar)")
    parser.add_argument("--tasks", nargs="+", choices=["sourcegraph", "qmd"], default=["sourcegraph", "qmd"])
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    args = parser.parse_args()

    from querytune.platform import models

    tokenizer = models.load_tokenizer(models.resolve("default"))
    result = {}
    for task in args.tasks:
        for backend in args.backends:
            for variant, grammar in grammars(task, BACKENDS[backend][1]).items():
                name = f"{task}/{backend}" + ("" if variant == "served" else f" ({variant})")
                try:
                    result[name] = {**measure(backend, grammar, tokenizer, args.sequences, args.tokens),
                                    "replay_mask_ms": measure_replay(backend, grammar, tokenizer,
                                                                     real_answers(task, args.sequences))}
                except ValueError as err:  # the backend refuses the grammar: what vLLM would answer too
                    result[name] = {"error": str(err)[:300]}
    write(results_dir(args.out), "grammar_cost", result)
    rows = [[name, r["grammar_chars"], r["compile_s"], r["validate_ms"].get("p50", ""), r["matcher_ms"]["p50"],
             r["mask_ms"]["p50"], r["mask_ms"]["p99"], r["replay_mask_ms"]["first"]["p50"],
             r["replay_mask_ms"]["first"]["p99"], r["replay_mask_ms"]["again"]["p50"],
             r["replay_mask_ms"]["again"]["p99"]] if "error" not in r
            else [name, "refused: " + r["error"][:60], *[""] * 9] for name, r in result.items()]
    print(table("Grammar cost on CPU: per request (validate, matcher) and per decoding step (mask), CPU ms", [
        "grammar/backend", "chars", "compile s", "validate p50 ms", "matcher p50 ms", "random p50 ms",
        "random p99 ms", "real p50 ms", "real p99 ms", "real again p50 ms", "real again p99 ms"], rows))


if __name__ == "__main__":
    main()
