"""Does vLLM hold its answers to the grammar? Each engine setting, answers replayed on the CPU.

On the H200 (2026-12-01, QUALITY.md) answers decoded under the tasks' grammars broke off or
went wrong, and the engine's own log said why: ``token ":" doesn't satisfy the grammar;
forced bytes: got ' '`` -- it sampled tokens the grammar forbids, so the mask did not reach
the token it chose. This probe finds the setting that does it: each setting starts its own
engine in its own process (vLLM reads some of them from the environment at import), decodes
the task's dev requests under the grammar, greedy and sampled, and replays every answer's
token ids through a fresh llguidance matcher on the CPU. An answer the matcher refuses is a
violation. Weights do not matter for that (the mask must hold whatever the model prefers), so
the base model serves unless ``--adapter`` names one.

    python -m bench.grammar_probe --task qmd                  # every setting, 64 dev rows
    python -m bench.grammar_probe --task sourcegraph --settings default v1-runner
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import log, results_dir, table, write

#: name -> (environment, extra vllm.LLM arguments): each departs from vLLM 0.26's defaults in one way
SETTINGS = {
    "default": ({}, {}),
    "v1-runner": ({"VLLM_USE_V2_MODEL_RUNNER": "0"}, {}),   # 0.26 runs Llama models on Model Runner V2
    "sync": ({}, {"async_scheduling": False}),               # async scheduling is on by default
    "eager": ({}, {"enforce_eager": True}),                  # no CUDA graphs or compilation
    "no-plugin": ({"VLLM_PLUGINS": ""}, {}),                 # without querytune's shared-matcher plugin
    "in-process": ({"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}, {}),  # engine core in the caller's process
}


def probe(task_name: str, setting: str, rows: int, adapter: str | None, storage: str) -> dict:
    """One engine under one setting: every answer's tokens replayed through the grammar."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from querytune.experiments import get_task
    from querytune.platform import models
    from querytune.platform.backends import VLLMBackend
    from querytune.platform.constrained import new_matcher

    task = get_task(task_name)
    grammar = task.grammar("lark")
    engine_args = dict(SETTINGS[setting][1])
    backend = VLLMBackend("default", adapter, storage, grammar=grammar,
                          enforce_eager=engine_args.pop("enforce_eager", False), engine_args=engine_args)
    tokenizer = models.load_tokenizer(models.resolve("default"))  # the CPU's reading of the ids, as in the tests
    vocab = backend.llm.llm_engine.model_config.get_vocab_size()
    examples = task.dev()[:rows]
    result = {"setting": setting, "rows": len(examples)}
    for mode, temperature in (("greedy", 0.0), ("sampled", 1.0)):
        params = SamplingParams(temperature=temperature, seed=0, max_tokens=160,
                                structured_outputs=StructuredOutputsParams(grammar=grammar))
        outputs = backend.llm.chat([task.messages(e) for e in examples], params, lora_request=backend.lora,
                                   use_tqdm=False)
        answers = [out.outputs[0] for out in outputs]
        refused = [(a.text, step) for a in answers
                   if (step := _first_refused(new_matcher(tokenizer, grammar, vocab), a.token_ids)) is not None]
        result[mode] = {"violations": len(refused) / len(answers),
                        "parse_ok": sum(_parses(task, a.text.strip()) for a in answers) / len(answers),
                        "mean_tokens": sum(len(a.token_ids) for a in answers) / len(answers),
                        "first_refused": refused[:3]}
        log(f"{setting} {mode}: {len(refused)}/{len(answers)} answers break the grammar")
    return result


def _parses(task, text: str) -> bool:
    """Whether the task's parser takes the answer: it raises ``ParseError`` on what it refuses
    (anything else is a crash, and surfaces)."""
    from querytune.experiments.base import ParseError

    try:
        task.parse(text)
    except ParseError:
        return False
    return True


def _first_refused(matcher, token_ids) -> int | None:
    """The index of the first token the grammar refuses, or None when it takes them all."""
    for step, token in enumerate(token_ids):
        if matcher.is_stopped() or not matcher.consume_token(token):
            return step
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="qmd", help="whose grammar and dev requests (qmd, sourcegraph)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--rows", type=int, default=64, help="dev requests per setting")
    parser.add_argument("--adapter", help="serve this adapter instead of the base model")
    parser.add_argument("--storage", default="runs", help="where --adapter is registered")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one setting, in this process: JSON to stdout
    args = parser.parse_args()
    if args.worker:
        print("PROBE " + json.dumps(probe(args.task, args.worker, args.rows, args.adapter, args.storage)))
        return
    out, results = results_dir(args.out), []
    for setting in args.settings:
        command = [sys.executable, "-m", "bench.grammar_probe", "--task", args.task, "--rows", str(args.rows),
                   "--storage", args.storage, "--worker", setting]
        command += ["--adapter", args.adapter] if args.adapter else []
        run = subprocess.run(command, env=os.environ | SETTINGS[setting][0], capture_output=True, text=True)
        (out / f"grammar-probe-{args.task}-{setting}.log").write_text(run.stdout + run.stderr)
        line = next((x for x in run.stdout.splitlines() if x.startswith("PROBE ")), None)
        results.append(json.loads(line[6:]) if line else {"setting": setting, "error": run.stderr[-800:]})
    write(out, f"grammar-probe-{args.task}", {"task": args.task, "adapter": args.adapter, "results": results})
    rows = [[r["setting"], *(f"{r[m]['violations']:.0%} / {r[m]['parse_ok']:.0%} / {r[m]['mean_tokens']:.0f}"
                             for m in ("greedy", "sampled"))] if "error" not in r else [r["setting"], "failed", ""]
            for r in results]
    print(table(f"{args.task}: answers breaking the grammar / parsing / mean tokens",
                ["setting", "greedy", "sampled"], rows))
    for r in results:
        print(r["setting"], json.dumps({m: r[m]["first_refused"] for m in ("greedy", "sampled")} if "error" not in r
                                       else r["error"])[:600])


if __name__ == "__main__":
    main()
