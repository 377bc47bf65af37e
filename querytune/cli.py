"""`querytune`: the command line. Each command is thin and calls one module.

Heavy libraries (torch, ray, transformers) are imported inside commands, so `--help`
answers at once.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Column, Table

app = typer.Typer(
    help="Fine-tune small LLMs to write search queries (LoRA SFT, GRPO, Ray Tune sweeps) and serve them "
         "with Ray Serve.\n\nExamples:\n\n  querytune train configs/qmd/sft.yaml --set lora.r=8\n\n"
         "  querytune sweep configs/sourcegraph/sweep.yaml\n\n"
         "  ray job submit --working-dir . -- querytune train configs/qmd/sft.yaml",
    no_args_is_help=True, rich_markup_mode="markdown", pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build and inspect task datasets.", no_args_is_help=True)
adapters_app = typer.Typer(help="The adapter registry: list, show.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(adapters_app, name="adapters")
console = Console()

SET_HELP = "Override a config key, e.g. --set lora.r=8 (repeatable; values are read as YAML)."
STORAGE_HELP = "Storage root of runs and the adapter registry (local folder or s3://...)."


def fail(message: str) -> None:
    """Print a user-facing error (no traceback wall) and exit 2."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # "[tracking]" is not markup
    raise typer.Exit(2)


def user_errors():
    """The exceptions that mean 'your input is wrong', shown as one clear message."""
    from querytune.platform.adapters import AdapterError
    from querytune.platform.config import ConfigError
    from querytune.platform.data import DataError

    return (ConfigError, DataError, AdapterError, FileNotFoundError, KeyError)


@app.command()
def train(config: Path = typer.Argument(..., help="Train YAML (recipe: sft or grpo)."),
          set_: list[str] = typer.Option([], "--set", help=SET_HELP)) -> None:
    """Run one SFT or GRPO training on Ray Train and register the adapter.

    Runs on a local Ray cluster, or on the cluster of `ray job submit`. Re-running the
    same config (same run.name) resumes from its last checkpoint.

    Example: `querytune train configs/qmd/sft.yaml --set sft.epochs=1`
    """
    from querytune.platform.config import TrainConfig, load_config

    try:
        cfg = load_config(config, TrainConfig, set_)
        from ray.train import TrainingFailedError

        from querytune.platform.launch import failure_summary
        from querytune.platform.launch import train as run_train

        began = time.perf_counter()
        try:
            outcome = run_train(cfg)
        except TrainingFailedError as err:
            fail(f"training run {cfg.run.name!r} failed: {failure_summary(err)}")
    except user_errors() as err:
        fail(str(err))
    table = Table("metric", Column("value", justify="right"), title=f"adapter {outcome.name}")
    for key, value in sorted(outcome.metrics.items()):
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"registered [bold]{outcome.name}[/] at {outcome.adapter} "
                  f"({time.perf_counter() - began:.0f} s command to adapter)")


@app.command()
def models() -> None:
    """List the built-in base model names and what they resolve to."""
    from querytune.platform.models import cache_dir, known_models

    table = Table(title=f"base models (cache: {cache_dir()})")
    table.add_column("name")
    table.add_column("what")
    for name, what in known_models().items():
        table.add_row(name, what)
    table.add_row("<folder> / <org/name>", "a local model folder or a Hugging Face id")
    console.print(table)


@app.command()
def tasks() -> None:
    """List the registered tasks."""
    from querytune.experiments import list_tasks

    for name in list_tasks():
        console.print(name)


@data_app.command("build")
def data_build(task: str = typer.Argument(..., help="Task name (querytune tasks)."),
               out: Path = typer.Option(Path("runs/data"), help="Output folder; TASK/ is created under it."),
               num_examples: int = typer.Option(None, help="Examples asked of the builder (default: config's)."),
               seed: int = typer.Option(42, help="Split seed.")) -> None:
    """Build a task's train/val(/test) Parquet files and a stats summary."""
    from querytune.experiments import get_task
    from querytune.platform import data
    from querytune.platform.config import DataSection

    try:
        cfg = DataSection(seed=seed, **({"num_examples": num_examples} if num_examples else {}))
        splits, written = data.export(get_task(task), cfg, out / task)
    except user_errors() as err:
        fail(str(err))
    for name, path in written.items():
        console.print(f"{name:>5}: {len(splits[name]):>6} rows -> {path}")
    console.print(f"stats -> {out / task / 'stats.json'}")


@adapters_app.command("list")
def adapters_list(storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """List registered adapters with their task, base and lineage; a corrupt entry is listed as broken."""
    from querytune.platform.adapters import scan

    found, broken = scan(storage)
    table = Table(title=f"adapters under {storage}")
    for col in ("name", "task", "recipe", "base", "parents", "score", "created"):
        table.add_column(col)
    for m in found:
        score = next((f"{v:.3f}" for k, v in m.metrics.items() if k == "val_score"), "")
        table.add_row(m.name, m.task, m.recipe, m.base.model, " <- ".join(p.name for p in m.parents) or "-",
                      score, m.created)
    console.print(table)
    for name, reason in broken.items():
        console.print(f"[bold red]broken:[/] {name}: {reason}", highlight=False)


@adapters_app.command("show")
def adapters_show(name: str, storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """Print an adapter's manifest (lineage, config, data fingerprint, metrics)."""
    from querytune.platform import adapters

    try:
        console.print_json(adapters.read_manifest(adapters.resolve(name, storage)).model_dump_json())
    except user_errors() as err:
        fail(str(err))


@app.command()
def export(adapter: str = typer.Argument(..., help="Registry name or adapter folder."),
           merge: Path = typer.Option(..., "--merge", help="Output folder for the merged model."),
           storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """Write the adapter's whole chain merged into a plain Hugging Face model (safetensors)."""
    from querytune.platform.adapters import export_merged

    try:
        out = export_merged(adapter, merge, storage)
    except user_errors() as err:
        fail(str(err))
    console.print(f"merged model -> {out}")


def eval_errors():
    from querytune.platform.backends import BackendError
    from querytune.platform.evaluate import EvalError

    return (*user_errors(), BackendError, EvalError)


@app.command("eval")
def eval_(task: str = typer.Option(..., help="Task name (querytune tasks) or module:Class."),
          model: str = typer.Option("default", help="Base model (querytune models), folder or HF id."),
          adapter: Optional[str] = typer.Option(None, help="Registry adapter name or folder (rebuilt chain)."),
          data: str = typer.Option("dev", help="dev | val | test | a JSONL/Parquet file of examples."),
          backend: str = typer.Option("hf", help="hf | vllm (GPU) | http (our server) | openai."),
          url: Optional[str] = typer.Option(None, help="Server URL: http://host:port (http) or base URL "
                                                       "ending in /v1 (openai)."),
          api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable with the openai key."),
          limit: Optional[int] = typer.Option(None, help="Only the first N examples."),
          concurrency: int = typer.Option(4, help="Requests in flight (http/openai)."),
          grammar: bool = typer.Option(False, help="Constrain decoding with the task's grammar (vllm)."),
          max_new_tokens: int = typer.Option(256, help="Generation budget per answer."),
          best_of: int = typer.Option(1, help="Sample N answers and keep the task's gold-free pick (hf, vllm)."),
          temperature: float = typer.Option(0.8, help="Sampling temperature with --best-of N > 1."),
          retries: int = typer.Option(0, help="Resample an unparsable answer up to N times, as routes do (hf, vllm)."),
          baseline: Optional[str] = typer.Option(None, help="Run folder to compare with, example by example."),
          out: Optional[Path] = typer.Option(None, help="Run folder (default `runs/eval/<task>-<model>-<time>`)."),
          storage: str = typer.Option("runs", help=STORAGE_HELP),
          gpu_price: float = typer.Option(2.5, help="$ per device-hour for the cost lines."),
          tracking_: list[str] = typer.Option([], "--tracking", help="Log to MLflow/TensorBoard, e.g. --tracking "
                                              "mlflow=true (keys of run.tracking; repeatable).")) -> None:
    """Evaluate a model or adapter on a task: per-example JSONL, summary with 95% CIs, HTML report.

    Example: `querytune eval --task qmd --model default --data dev --limit 8`
    """
    from querytune.platform.evaluate import EvalSpec, run_eval
    from querytune.platform.evaluate.terminal import print_summary
    from querytune.platform.tracking import from_cli

    try:
        spec = EvalSpec(task=task, model=model, adapter=adapter, data=data, backend=backend, url=url,
                        api_key_env=api_key_env, limit=limit, concurrency=concurrency, grammar=grammar,
                        max_new_tokens=max_new_tokens, best_of=best_of, temperature=temperature, retries=retries,
                        baseline=baseline, out=str(out) if out else None,
                        storage=storage, gpu_price=gpu_price, tracking=from_cli(tracking_))
        folder = run_eval(spec)
    except eval_errors() as err:
        fail(str(err))
    print_summary(folder, console)


@app.command()
def score(file: Path = typer.Argument(..., help="JSONL/Parquet rows: example fields plus 'completion'."),
          task: str = typer.Option(..., help="Task name (querytune tasks) or module:Class."),
          out: Optional[Path] = typer.Option(None, help="Run folder "
                                                        "(default `runs/eval/<task>-<file>-scored-<time>`)."),
          storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """Score completions produced elsewhere with the task's metrics; same summary and report as eval."""
    from querytune.platform.evaluate import run_score
    from querytune.platform.evaluate.terminal import print_summary

    try:
        folder = run_score(task, file, out, storage)
    except eval_errors() as err:
        fail(str(err))
    print_summary(folder, console)


@app.command()
def compare(runs: list[str] = typer.Argument(..., help="Two or more eval run folders; the first is the reference."),
            out: Optional[Path] = typer.Option(None, help="Report folder (default `runs/compare/<time>`)."),
            storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """Side-by-side metrics of eval runs, and paired differences (with 95% CI) against the first."""
    from querytune.platform.evaluate import cell, compare_runs, verdict

    try:
        loaded, diffs, folder = compare_runs(runs, out, storage)
    except eval_errors() as err:
        fail(str(err))
    reference = loaded[0][2]["metrics"]
    table = Table(title="mean [95% CI]; Δ = run − first run, paired by input")
    table.add_column("metric")
    for name, _, _ in loaded:
        table.add_column(name, justify="right")
    for metric, info in reference.items():
        cells = [cell(info)]
        for name, _, summary in loaded[1:]:
            mine, d = summary["metrics"].get(metric), diffs[name][metric]
            cells.append("—" if not mine else f"{mine['mean']:.3f} Δ {d['mean_diff']:+.3f} "
                         f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] {verdict(d)}")
        table.add_row(f"{metric} {'↑' if info['higher_is_better'] else '↓'}", *cells)
    console.print(table)
    console.print(f"report -> {folder / 'report.html'}")


@app.command()
def sweep(config: Path = typer.Argument(..., help="Sweep YAML: train config, search space, sweep settings."),
          set_: list[str] = typer.Option([], "--set", help=SET_HELP),
          resume: bool = typer.Option(False, "--resume", help="Continue the interrupted sweep of the same "
                                      "train.run.name (Tuner.restore); finished trials are kept, not rerun.")) -> None:
    """Ray Tune sweep over LoRA rank, learning rate, epochs (any config field), ranked by the val task metric.

    Optuna TPE picks values, ASHA stops trailing trials at epoch ends. Prints the leaderboard, registers the
    best finished trial's adapter as `<task>-best` and writes report.html under
    `<storage>/sweeps/<run name>/`.

    Example: `querytune sweep configs/qmd/sweep.yaml --set sweep.num_samples=4`
    """
    from querytune.platform.config import load_config
    from querytune.platform.leaderboard import table as leaderboard_table
    from querytune.platform.sweep import SweepFailed, SweepInterrupted
    from querytune.platform.sweep import run as run_sweep
    from querytune.platform.sweep_config import SweepConfig

    try:
        cfg = load_config(config, SweepConfig, set_)
        outcome = run_sweep(cfg, resume=resume)
    except (*user_errors(), SweepInterrupted, SweepFailed) as err:
        fail(str(err))
    console.print(leaderboard_table(outcome))
    if outcome.registered:
        console.print(f"best: {outcome.best.trial} -> registered [bold]{outcome.registered}[/]")
    else:
        console.print("[yellow]no trial finished: nothing registered[/]")
    console.print(f"report -> {outcome.report}")


@app.command("serve")
def serve_(config: Path = typer.Argument(Path("configs/serve.yaml"), help="Serve YAML (a Ray Serve config file)."),
           set_: list[str] = typer.Option([], "--set", help="Override an application arg, e.g. "
                                          "--set routes.qmd.model=qmd-grpo (repeatable; values read as YAML)."),
           host: Optional[str] = typer.Option(None, help="Bind address (default: the file's http_options.host)."),
           port: Optional[int] = typer.Option(None, help="Port (default: the file's http_options.port)."),
           local: bool = typer.Option(False, "--local", help="Run the app under uvicorn in this process, no Ray "
                                      "(no replicas, no autoscaling).")) -> None:
    """Serve both tasks from one autoscaled Ray Serve application; blocks until Ctrl-C.

    Starts a local Ray cluster, or joins the one in RAY_ADDRESS, deploys, prints the URL.
    The same file works with Ray's CLI: `serve run configs/serve.yaml`.

    Example: `querytune serve configs/serve.yaml --set routes.qmd.model=qmd-grpo`
    """
    from querytune.serve.catalog import CatalogError
    from querytune.serve.config import load_serve_file

    try:
        file = load_serve_file(config, set_)
        file.http_options = file.http_options.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None})
        from querytune.serve import app as serve_app

        (serve_app.serve_local if local else serve_app.serve_until_interrupted)(file)
    except (*user_errors(), CatalogError) as err:
        fail(str(err))


@app.command()
def loadtest(url: str = typer.Argument(..., help="Server base URL, e.g. http://127.0.0.1:8000."),
             route: str = typer.Option("/sourcegraph/query", help="Route to load."),
             concurrency: int = typer.Option(8, help="Closed loop: clients sending back to back."),
             requests: int = typer.Option(200, help="Stop after this many requests."),
             duration: float = typer.Option(30.0, help="Stop after this many seconds."),
             open_loop_rps: Optional[float] = typer.Option(None, help="Open loop: start requests at this rate "
                                                           "whatever the answers (replaces --concurrency)."),
             body: Optional[str] = typer.Option(None, help="JSON body to send (default: sample requests)."),
             api_key_env: str = typer.Option("QUERYTUNE_API_KEY", help="Env var with the API key, if any."),
             allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback target."),
             out: Optional[Path] = typer.Option(None, help="Folder for summary.json, samples.jsonl, loadtest.png.")
             ) -> None:
    """Load a running server; print throughput, p50/p95/p99 and errors.

    Example: `querytune loadtest http://127.0.0.1:8000 --route /qmd/expand --concurrency 16 --out runs/load`
    """
    import os

    from querytune.serve.loadtest import LoadSpec, LoadTestError, run

    try:
        spec = LoadSpec(url=url, route=route, concurrency=concurrency, requests=requests, duration_s=duration,
                        open_loop_rps=open_loop_rps, body=json.loads(body) if body else None,
                        api_key=os.environ.get(api_key_env) or None, allow_remote=allow_remote)
        summary = run(spec, out)
    except (LoadTestError, json.JSONDecodeError) as err:
        fail(str(err))
    table = Table(title=f"{summary['mode']} loop on {summary['route']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("requests", "ok", "errors", "duration_s", "throughput_rps", "valid_rate"):
        table.add_row(key, str(summary[key]))
    for key, value in summary["latency_ms"].items():
        table.add_row(f"latency {key} (ms)", str(value))
    console.print(table)
    if out:
        console.print(f"results -> {out}")


@app.command()
def demo(config: Path = typer.Argument(Path("configs/demo/demo.yaml"), help="Demo YAML (configs/demo/)."),
         set_: list[str] = typer.Option([], "--set", help=SET_HELP)) -> None:
    """The whole story end to end: data, sweeps, GRPO, base vs SFT vs GRPO, Ray Serve over HTTP, HTML report.

    Shows each stage live with its time and an ETA; Serve and Ray are shut down at the end.

    Example: `querytune demo configs/demo/demo-tiny.yaml` (the same path on a tiny model, minutes)
    """
    from querytune.platform.config import load_config

    try:
        from querytune.demo import DemoConfig, DemoError
        from querytune.demo import run as run_demo

        cfg = load_config(config, DemoConfig, set_)
        result = run_demo(cfg)
    except (*user_errors(), DemoError) as err:
        fail(str(err))
    from querytune.demo import answers_table, stages_table, summary_table

    console.print(stages_table(result))
    console.print(answers_table(result.answers))
    console.print(summary_table(result))
    console.print(f"report -> {result.report}")


# Commands of later modules are added above this line.


def main() -> None:
    app(prog_name="querytune")


if __name__ == "__main__":
    sys.exit(main())
