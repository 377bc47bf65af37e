"""GPU check of issue #21: the dev sets through vLLM with and without the task grammar.

Runs ``querytune eval --backend vllm`` twice per task (``--grammar`` and not) on the
adapters named, each second run compared with the first example by example, and first
prints how this machine's vLLM tokenizer looks to both grammar engines (a RAW
vocabulary, where ``Ġfoo`` reads as the text ``Ġfoo``, would mask every space):

    bash bench/gpu_session.sh grammar_eval    # with, in the environment:
    BENCH_ARGS_grammar_eval="--sourcegraph-adapter sourcegraph-sft --qmd-adapter qmd-sft --storage runs"
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import results_dir, table, write

HEADLINE = {"sourcegraph": ("semantic_match", "syntax_valid"), "qmd": ("score", "hyde_present", "format_ok")}


def tokenizer_view(model: str) -> dict[str, Any]:
    """vocab type and the decoding of a space-prefixed token, built the way vLLM 0.26 builds them."""
    import llguidance.hf
    import xgrammar
    from vllm.tokenizers.hf import CachedHfTokenizer

    from querytune.platform import models

    folder = models.resolve(model)
    tokenizer = CachedHfTokenizer.from_pretrained(str(folder))
    vocab_size = json.loads((folder / "config.json").read_text())["vocab_size"]
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    token = tokenizer.convert_tokens_to_ids("Ġfoo")
    guidance = llguidance.hf.from_tokenizer(tokenizer, max(vocab_size, len(tokenizer)))
    decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder")
    return {"xgrammar_vocab_type": str(info.vocab_type), "add_prefix_space": info.add_prefix_space,
            "xgrammar_decodes": info.decoded_vocab[token].decode(errors="replace"),
            "llguidance_decodes": guidance.decode_bytes([token]).decode(errors="replace"),
            "decoder": decoder and decoder.get("type")}


def evaluate(task: str, adapter: str, storage: str, limit: int | None, max_new_tokens: int) -> dict[str, Any]:
    from querytune.platform.evaluate import SUMMARY_FILE, EvalSpec, run_eval

    runs = {}
    for grammar in (False, True):
        spec = EvalSpec(task=task, adapter=adapter, data="dev", backend="vllm", grammar=grammar, limit=limit,
                        max_new_tokens=max_new_tokens, storage=storage,
                        baseline=runs.get("free", {}).get("folder"))
        folder = run_eval(spec)
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        runs["grammar" if grammar else "free"] = {"folder": str(folder), "metrics": {
            name: summary["metrics"][name]["mean"] for name in HEADLINE[task] if name in summary["metrics"]}}
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sourcegraph-adapter", required=True, help="registry name of the sourcegraph adapter")
    parser.add_argument("--qmd-adapter", required=True, help="registry name of the qmd adapter")
    parser.add_argument("--storage", default="runs", help="adapter registry storage path")
    parser.add_argument("--model", default="default", help="base model whose tokenizer vLLM loads")
    parser.add_argument("--limit", type=int, help="only the first N dev examples")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="answer budget (qmd needs ~160)")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    args = parser.parse_args()

    result: dict[str, Any] = {"tokenizer": tokenizer_view(args.model)}
    print(json.dumps(result["tokenizer"], indent=2))
    for task, adapter in (("sourcegraph", args.sourcegraph_adapter), ("qmd", args.qmd_adapter)):
        result[task] = evaluate(task, adapter, args.storage, args.limit, args.max_new_tokens)
    write(results_dir(args.out), "grammar_eval", result)
    rows = [[task, name, result[task]["free"]["metrics"].get(name), result[task]["grammar"]["metrics"].get(name)]
            for task in HEADLINE for name in HEADLINE[task]]
    print(table("Dev sets on vLLM, free vs grammar-constrained (greedy)", ["task", "metric", "free", "grammar"],
                rows))


if __name__ == "__main__":
    main()
