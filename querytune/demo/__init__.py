"""`querytune demo CONFIG`: the whole platform end to end, with live progress.

    querytune demo configs/demo/demo.yaml       # `make demo`: SmolLM2-135M on this CPU machine
    querytune demo configs/demo/demo-tiny.yaml  # the same path on a random 2-layer model (CI)
    querytune demo configs/demo/demo-gpu.yaml   # a GPU machine or cluster: larger model, vLLM serving

Each stage calls the module that owns it, as a library: data (``platform/data``) -> one
sweep per task (``platform/sweep``: Ray Tune + ASHA over LoRA SFT, registers
``<task>-best``) -> GRPO from one of them (``platform/launch``) -> base vs SFT vs GRPO on
the dev sets (``platform/evaluate``) -> the Ray Serve app with both tasks' adapters
(``serve/app``) and the original reports' requests over HTTP -> one HTML report
(``platform/report``) -> Serve and Ray shut down, whatever happened before.

A run writes ``<storage_path>/<date-time>/``: the adapter registry, sweeps, evals,
``report.html`` and ``demo.json`` (stage timings, summary, HTTP answers).

The package follows the run: ``config`` (the YAML, each referenced file read once),
``progress`` (the live view and the run's record), ``stages`` (``run`` and each stage),
``report`` (the terminal tables and report.html).
"""
from querytune.demo.config import DemoConfig, DemoError, Plan, resolve, stage_names
from querytune.demo.progress import DemoRun, Progress
from querytune.demo.report import answers_table, stages_table, summary_table, write_report
from querytune.demo.stages import run

__all__ = ["DemoConfig", "DemoError", "DemoRun", "Plan", "Progress", "answers_table", "resolve", "run",
           "stage_names", "stages_table", "summary_table", "write_report"]
