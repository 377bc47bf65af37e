"""`querytune`: the command line. Each command is thin and calls one module.

Heavy libraries (torch, ray, transformers) are imported inside commands, so `--help`
answers at once.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

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
    console.print(f"[bold red]error:[/] {message}", highlight=False)
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
        from querytune.platform.launch import train as run_train

        outcome = run_train(cfg)
    except user_errors() as err:
        fail(str(err))
    table = Table(title=f"adapter {outcome.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(outcome.metrics.items()):
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"registered [bold]{outcome.name}[/] at {outcome.adapter}")


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
    from querytune.platform.config import DataConfig

    try:
        task_obj = get_task(task)
        cfg = DataConfig(seed=seed, **({"num_examples": num_examples} if num_examples else {}))
        splits = data.build(task_obj, cfg)
    except user_errors() as err:
        fail(str(err))
    written = data.write_splits(splits, out / task)
    stats = {"fingerprint": data.fingerprint(splits), "splits": {k: len(v) for k, v in splits.items()}}
    if hasattr(task_obj, "stats"):
        stats["task_stats"] = {name: task_obj.stats(ds) for name, ds in splits.items()}
    (out / task / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    for name, path in written.items():
        console.print(f"{name:>5}: {len(splits[name]):>6} rows -> {path}")
    console.print(f"stats -> {out / task / 'stats.json'}")


@adapters_app.command("list")
def adapters_list(storage: str = typer.Option("runs", help=STORAGE_HELP)) -> None:
    """List registered adapters with their task, base and lineage."""
    from querytune.platform.adapters import list_adapters

    table = Table(title=f"adapters under {storage}")
    for col in ("name", "task", "recipe", "base", "parents", "score", "created"):
        table.add_column(col)
    for m in list_adapters(storage):
        score = next((f"{v:.3f}" for k, v in m.metrics.items() if k == "val_score"), "")
        table.add_row(m.name, m.task, m.recipe, m.base.model, " <- ".join(p.name for p in m.parents) or "-",
                      score, m.created)
    console.print(table)


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


# Commands of later modules are added above this line.


def main() -> None:
    app(prog_name="querytune")


if __name__ == "__main__":
    sys.exit(main())
