"""Evaluate a model on a task through any backend; score completions made elsewhere; compare runs.

    querytune eval --task qmd --model default --data dev --limit 8
    querytune score --task qmd completions.jsonl
    querytune compare runs/eval/a runs/eval/b

A run folder holds ``examples.jsonl`` (per example: input, messages, output, parse result,
every metric, latency), ``summary.json`` (means with bootstrap 95% CIs, the scorer version,
latency of the first request apart from steady state, cost) and ``report.html``.
Means skip NaN, so a metric that does not apply to an example does not drag the mean. A row
that cannot be scored (its gold does not parse: ``GoldError``, or the scorer raised) is not
dropped: it scores 0, carries its ``error``, and the summary counts it in ``n_errors``.

The modules follow an eval: ``run`` (the spec, generation, run folders, ``compare_runs``),
``statistics`` (scoring rows, bootstrap CIs, summaries, paired differences) and ``report``
(the HTML of a run and of a comparison).
"""
from querytune.platform.evaluate.report import cell, compare_report, eval_report
from querytune.platform.evaluate.run import (
    DEFAULT_GPU_PRICE,
    DEFAULT_MAX_NEW_TOKENS,
    EXAMPLES_FILE,
    SUMMARY_FILE,
    EvalError,
    EvalSpec,
    compare_runs,
    load_examples,
    new_folder,
    read_run,
    resolve_run,
    run_eval,
    run_score,
)
from querytune.platform.evaluate.statistics import (
    Timing,
    bootstrap_ci,
    cost_summary,
    judge,
    latency_summary,
    nanmean,
    paired_differences,
    paired_rows,
    summarize,
    verdict,
)

__all__ = ["DEFAULT_GPU_PRICE", "DEFAULT_MAX_NEW_TOKENS", "EXAMPLES_FILE", "SUMMARY_FILE", "EvalError", "EvalSpec",
           "Timing", "bootstrap_ci", "cell", "compare_report", "compare_runs", "cost_summary", "eval_report", "judge",
           "latency_summary", "load_examples", "nanmean", "new_folder", "paired_differences", "paired_rows",
           "read_run", "resolve_run", "run_eval", "run_score", "summarize", "verdict"]
