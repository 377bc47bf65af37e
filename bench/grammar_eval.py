"""Issue #21 on the GPU: both dev sets with and without the task grammar, in one command.

For each task, ``querytune eval`` runs twice on its dev set: free, then ``--grammar`` with the
free run as baseline (paired example by example). Each eval is its own process, since a
vLLM engine gives its GPU memory back only when its process ends. First it prints how this
machine's tokenizer looks to both grammar engines (a RAW vocabulary, where ``Ġfoo`` reads as
the text ``Ġfoo``, would mask every space) and whether vLLM will load the project's plugin
(one compiled grammar per text instead of one per request, ``platform/constrained.py``);
last, the rows for QUALITY.md (metrics) and BENCHMARKS.md (latency), in their tables' columns.

    python -m bench.grammar_eval --sourcegraph-adapter sourcegraph-sft --qmd-adapter qmd-sft --storage runs
    bash bench/gpu_session.sh grammar_eval    # the same, with BENCH_ARGS_grammar_eval holding those options
    # CPU smoke run of the same path (base model, transformers with llguidance):
    python -m bench.grammar_eval --backend hf --model tiny-qwen3 --limit 2 --max-new-tokens 16
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.common import log, querytune_command, results_dir, run_timed, table, write

#: the columns of QUALITY.md's tables for each task
HEADLINE = {"sourcegraph": ("semantic_match", "syntax_valid", "hallucinated_filter", "unnecessary_repo",
                            "candidate_repo_used"),
            "qmd": ("score", "excellent", "hyde_present", "lex_echo", "format_ok")}


def tokenizer_view(model: str, backend: str) -> dict[str, Any]:
    """vocab type and the decoding of a space-prefixed token, built the way vLLM 0.26 builds them
    (its cached HF tokenizer on the GPU; the project's tokenizer loader elsewhere)."""
    import llguidance.hf
    import xgrammar

    from querytune.platform import models

    folder = models.resolve(model)
    if backend == "vllm":
        from vllm.tokenizers.hf import CachedHfTokenizer

        tokenizer = CachedHfTokenizer.from_pretrained(str(folder))
    else:
        tokenizer = models.load_tokenizer(folder)
    vocab_size = json.loads((folder / "config.json").read_text())["vocab_size"]
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    token = tokenizer.convert_tokens_to_ids("Ġfoo")
    guidance = llguidance.hf.from_tokenizer(tokenizer, max(vocab_size, len(tokenizer)))
    decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder")
    return {"xgrammar_vocab_type": str(info.vocab_type), "add_prefix_space": info.add_prefix_space,
            "xgrammar_decodes": info.decoded_vocab[token].decode(errors="replace"),
            "llguidance_decodes": guidance.decode_bytes([token]).decode(errors="replace"),
            "decoder": decoder and decoder.get("type")}


def vllm_plugins() -> list[str]:
    """``vllm.general_plugins`` entry points of the installed packages: the project's is there only
    when querytune is installed (``pip install -e .``), not when it runs from PYTHONPATH."""
    from importlib.metadata import entry_points

    return sorted(f"{e.name} = {e.value}" for e in entry_points(group="vllm.general_plugins"))


def evaluate(task: str, args: argparse.Namespace, adapter: str | None, out: Path) -> dict[str, Any]:
    """Free, then grammar-held (paired with the free run); each run's headline metrics and latency."""
    runs: dict[str, Any] = {}
    for grammar in (False, True):
        name = "grammar" if grammar else "free"
        folder = Path(args.storage) / "eval" / f"grammar-eval-{task}-{name}"
        command = ["eval", "--task", task, "--data", "dev", "--backend", args.backend, "--storage", args.storage,
                   "--max-new-tokens", str(args.max_new_tokens), "--out", str(folder)]
        command += ["--adapter", adapter] if adapter else ["--model", args.model]
        command += ["--limit", str(args.limit)] if args.limit else []
        command += ["--grammar", "--baseline", runs["free"]["folder"]] if grammar else []
        timed = run_timed(querytune_command(*command), out / f"grammar-eval-{task}-{name}.log")
        summary = json.loads((folder / "summary.json").read_text())
        runs[name] = {"folder": str(folder), "command": timed["command"], "wall_s": timed["wall_s"],
                      "count": summary["count"], "parse_ok": summary["parse"]["ok"],
                      "metrics": {m: summary["metrics"][m]["mean"] for m in HEADLINE[task] if m in summary["metrics"]},
                      "latency": summary["latency"],
                      "paired": summary.get("baseline", {}).get("differences")}
        log(f"{task} {name}: {runs[name]['metrics']} ({timed['wall_s']:.0f} s)")
    return runs


def quality_rows(task: str, runs: dict[str, Any], model: str) -> list[list[Any]]:
    """Rows for QUALITY.md's table of ``task`` (model, set, grammar, best of, n, parse, metrics)."""
    return [[model, "dev", "on" if name == "grammar" else "off", 1, run["count"], _percent(run["parse_ok"]),
             *[_percent(run["metrics"].get(m)) for m in HEADLINE[task]]] for name, run in runs.items()]


def latency_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Per task and mode: the eval's first request and steady-state latency per answer."""
    return [[task, name, *(round(run["latency"][key] * 1e3) for key in ("first_request_s", "p50_s", "p99_s")),
             round(run["latency"]["queries_per_s"], 2)]
            for task in HEADLINE if task in result for name, run in result[task].items()]


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sourcegraph-adapter", help="registry name of the sourcegraph adapter (default: the base)")
    parser.add_argument("--qmd-adapter", help="registry name of the qmd adapter (default: the base)")
    parser.add_argument("--tasks", nargs="+", choices=list(HEADLINE), default=list(HEADLINE))
    parser.add_argument("--backend", choices=["vllm", "hf"], default="vllm", help="vllm (GPU) or hf (CPU smoke run)")
    parser.add_argument("--storage", default="runs", help="adapter registry storage path; runs go to <storage>/eval")
    parser.add_argument("--model", default="default", help="base model (evaluated where no adapter is named)")
    parser.add_argument("--limit", type=int, help="only the first N dev examples")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="answer budget (qmd needs ~160)")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    args = parser.parse_args()

    out = results_dir(args.out)
    adapters = {"sourcegraph": args.sourcegraph_adapter, "qmd": args.qmd_adapter}
    result: dict[str, Any] = {"backend": args.backend, "tokenizer": tokenizer_view(args.model, args.backend),
                              "vllm_plugins": vllm_plugins()}
    print(json.dumps({k: result[k] for k in ("tokenizer", "vllm_plugins")}, indent=2))
    for task in args.tasks:
        result[task] = evaluate(task, args, adapters[task], out)
    write(out, "grammar_eval", result)
    for task in args.tasks:
        print(table(f"QUALITY.md rows, {task} (dev, greedy, {args.backend})",
                    ["model", "set", "grammar", "best of", "n", "parse", *HEADLINE[task]],
                    quality_rows(task, result[task], adapters[task] or args.model)))
    print(table(f"BENCHMARKS.md rows: eval latency per answer ({args.backend})",
                ["task", "grammar", "first request ms", "p50 ms", "p99 ms", "answers/s"], latency_rows(result)))


if __name__ == "__main__":
    main()
