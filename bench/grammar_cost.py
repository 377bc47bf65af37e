"""CPU benchmark: what grammar-constrained decoding costs per generated token.

vLLM computes each sequence's allowed-token mask on the CPU, once per decoding step,
with the structured-output backend the deployment names (``xgrammar`` reading the
task's GBNF, or ``guidance`` reading its Lark). This times exactly that work for each
task's grammar, with the default model's tokenizer and vocabulary size. A random-weight
model is imitated by taking, at each step, the highest of random logits among the
allowed tokens ("random"); a trained one by replaying real answers, dev golds or
training targets ("real"). Needs xgrammar and llguidance (the ``dev`` extra); no GPU.

    python -m bench.grammar_cost [--sequences 50] [--tokens 24] [--out DIR]
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import percentiles, results_dir, table, write

VOCAB_SIZE = 49152  # SmolLM2-135M's embedding rows (the default model)


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

    def fill(self) -> None:
        self.ll.torch.fill_next_token_bitmask(self.matcher, self.bitmask, 0)

    def apply(self, logits) -> None:
        self.ll.torch.apply_token_bitmask_inplace(logits, self.bitmask)

    def accept(self, token: int) -> bool:
        return self.matcher.consume_token(token) and not self.matcher.is_stopped()


class GuidanceCopy(Guidance):
    """llguidance with each matcher copied from one built at start-up: copies share the lexer
    states built so far, where vLLM 0.26 compiles a fresh matcher for every request."""

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

    began = time.perf_counter()
    engine = BACKENDS[backend][0](grammar, tokenizer)
    compile_s = time.perf_counter() - began
    generator = torch.Generator().manual_seed(seed)
    mask_ms, lengths, start_ms = [], [], []
    for _ in range(sequences):
        began = time.perf_counter()
        engine.start()  # vLLM builds one matcher per request
        start_ms.append((time.perf_counter() - began) * 1e3)
        produced = 0
        while produced < tokens:
            began = time.perf_counter()
            engine.fill()
            mask_ms.append((time.perf_counter() - began) * 1e3)
            logits = torch.randn(1, VOCAB_SIZE, generator=generator)
            engine.apply(logits)
            produced += 1
            if not engine.accept(int(logits.argmax())):
                break
        lengths.append(produced)
    return {"compile_s": compile_s, "matcher_ms": percentiles(start_ms), "mask_ms": percentiles(mask_ms),
            "tokens_per_answer": percentiles(lengths),
            "grammar_chars": len(grammar)}


def measure_replay(backend: str, grammar: str, tokenizer, answers: list[str]) -> dict[str, Any]:
    """Mask times along real answers (dev golds, training targets): the states a trained model visits."""
    engine = BACKENDS[backend][0](grammar, tokenizer)
    mask_ms = []
    for answer in answers:
        engine.start()
        for token in tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]:
            began = time.perf_counter()
            engine.fill()
            mask_ms.append((time.perf_counter() - began) * 1e3)
            if not engine.accept(token):
                break
    return percentiles(mask_ms)


def real_answers(task_name: str, count: int) -> list[str]:
    from querytune.experiments import get_task

    task = get_task(task_name)
    if task_name == "sourcegraph":
        return [row["query"] for row in task.dev()][:count]
    return [task.target(row) for row in task.generate(count, seed=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=50, help="answers generated per grammar")
    parser.add_argument("--tokens", type=int, default=24, help="token budget of an answer")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    args = parser.parse_args()

    from querytune.experiments import get_task
    from querytune.platform import models

    tokenizer = models.load_tokenizer(models.resolve("default"))
    result = {}
    for task in ("sourcegraph", "qmd"):
        for backend, (_, syntax) in BACKENDS.items():
            try:
                grammar = get_task(task).grammar(syntax)
                result[f"{task}/{backend}"] = {**measure(backend, grammar, tokenizer, args.sequences, args.tokens),
                                               "replay_mask_ms": measure_replay(backend, grammar, tokenizer,
                                                                                real_answers(task, args.sequences))}
            except ValueError as err:  # the backend refuses the grammar: what vLLM would answer too
                result[f"{task}/{backend}"] = {"error": str(err)[:300]}
    write(results_dir(args.out), "grammar_cost", result)
    rows = [[name, r["grammar_chars"], r["compile_s"], r["matcher_ms"]["p50"], r["mask_ms"]["p50"], r["mask_ms"]["p99"],
             r["mask_ms"]["mean"], r["replay_mask_ms"]["p50"], r["replay_mask_ms"]["p99"]] if "error" not in r
            else [name, "refused: " + r["error"][:60], "", "", "", "", "", "", ""] for name, r in result.items()]
    print(table("Allowed-token mask per decoding step, one sequence, CPU", [
        "grammar/backend", "chars", "compile s", "matcher p50 ms", "random p50 ms", "random p99 ms", "random mean ms",
        "real p50 ms", "real p99 ms"], rows))


if __name__ == "__main__":
    main()
