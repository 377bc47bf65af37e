"""The GPU quality loop: train each task from its shipped config, evaluate it, write one table.

Base model and adapters on the task's sets, with and without the grammar (and best-of-N, GRPO).

Every session that changes data, prompts, decoding or training runs this on the GPU, and its
table goes to QUALITY.md. Training runs all tasks and variants at once (one GPU holds several 135M
runs), a task's GRPO after its SFT. Each evaluation starts as soon as the adapter it needs is
registered (base cells at once), ``--jobs`` at a time, each its own `querytune eval --backend vllm`
process: a task trained early is judged while another still trains, and a failed training fails
only the cells that need its adapter.

    python -m bench.quality                                   # both tasks, shipped configs, GPU
    python -m bench.quality --tasks qmd --train-set sft.epochs=2
    python -m bench.quality --skip-train --storage /tmp/q     # evaluate what is registered there
    python -m bench.quality --variant ep8 sft.epochs=8 --variant b64 sft.batch_size=64 sft.lr=4e-4
                                                              # ablations trained beside the shipped config
    python -m bench.quality --grpo qmd --variant sourcegraph:n20k data.num_examples=20000
                                                              # GRPO of one task; an ablation of one task
    python -m bench.quality --backend hf --model tiny-qwen3 --limit 4 --no-grammar \
        --train-set model.name=tiny-qwen3 --train-set scaling.use_gpu=false --train-set sft.epochs=1 \
        --train-set data.num_examples=60                      # CPU smoke run of the same path
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from bench.common import log, querytune_command, results_dir, run_timed, table, write

#: what each task is judged on: its sets, and the metrics worth a column
SETS = {"sourcegraph": ("dev", "val", "test"), "qmd": ("dev",)}
COLUMNS = {"sourcegraph": ("score", "syntax_valid", "hallucinated_filter", "unnecessary_repo",
                           "candidate_repo_used"),
           "qmd": ("score", "excellent", "hyde_present", "lex_echo", "format_ok")}


@dataclass(frozen=True)
class Cell:
    """One evaluation: a task's model (base or adapter) on one set, constrained or not."""

    task: str
    adapter: str | None
    data: str
    grammar: bool = False
    best_of: int = 1
    retries: int = 0  # resamples of an unparsable answer, as a served route makes them

    @property
    def name(self) -> str:
        what = self.adapter or "base"
        return f"{self.task}-{what}-{self.data}{'-grammar' if self.grammar else ''}" + \
            (f"-best{self.best_of}" if self.best_of > 1 else "") + (f"-retry{self.retries}" if self.retries else "")


@dataclass(frozen=True)
class Variant:
    """An ablation of one task's shipped SFT config, registered as ``<task>-sft-<name>``."""

    task: str
    name: str
    overrides: list[str]


#: the config each recipe trains from, and the overrides that put it on this session's GPU and storage
RECIPES = {"sft": ("configs/{task}/sft.yaml", ["scaling.use_gpu=true"]),
           "grpo": ("configs/{task}/grpo-gpu.yaml", [])}


def train(task: str, recipe: str, storage: Path, overrides: list[str], out: Path, variant: str = "") -> dict:
    """`querytune train` of one recipe on the GPU, registered as `<task>-<recipe>[-<variant>]` (GRPO's
    parent is the `<task>-sft` its GPU config names)."""
    config, placed = RECIPES[recipe]
    name = adapter_name(task, recipe, variant)
    sets = [*placed, f"run.storage_path={storage}", f"run.name=quality-{name}-{time.strftime('%H%M%S')}",
            f"run.register_as={name}", *overrides]
    command = querytune_command("train", config.format(task=task), *[x for s in sets for x in ("--set", s)])
    log(f"train {name}: {' '.join(command)}")
    result = run_timed(command, out / f"train-{name}.log")
    log(f"train {name}: {result['wall_s']:.0f} s")
    return result


def adapter_name(task: str, recipe: str, variant: str = "") -> str:
    return f"{task}-{recipe}" + (f"-{variant}" if variant else "")


def training_plan(opts: argparse.Namespace, storage: Path, out: Path) -> dict[str, tuple[str | None, Callable]]:
    """Each adapter to train, by name: the adapter it starts from (a task's GRPO runs from its SFT) and its
    training. The GRPO variants share that one parent; SFT variants start from the base model."""
    plan: dict[str, tuple[str | None, Callable]] = {}
    for task in opts.tasks:
        sft = adapter_name(task, "sft")
        plan[sft] = (None, partial(train, task, "sft", storage, opts.train_set, out))
        for name, overrides in grpo_runs(task, opts).items():
            plan[adapter_name(task, "grpo", name)] = (
                sft, partial(train, task, "grpo", storage, [*opts.grpo_set, *overrides], out, name))
    for v in opts.variant:
        plan[adapter_name(v.task, "sft", v.name)] = (None, partial(train_variant, v, opts, storage, out))
    return plan


def start_training(plan: dict[str, tuple[str | None, Callable]], pool: ThreadPoolExecutor) -> dict[str, Future]:
    """Every training of the plan at once (the pool has a thread each); a child's thread waits for its parent."""
    started: dict[str, Future] = {}
    for name, (parent, job) in plan.items():  # a parent comes before its children
        started[name] = pool.submit(_after, started.get(parent), job)
    return started


def _after(parent: Future | None, job: Callable) -> dict:
    """A GRPO run trains from its SFT adapter: it waits for it, and fails with its error if that failed."""
    if parent is not None:
        parent.result()
    return job()


def grpo_runs(task: str, opts: argparse.Namespace) -> dict[str, list[str]]:
    """The task's GRPO runs, variant name ("" for the shipped config) -> overrides."""
    runs: dict[str, list[str]] = {"": []} if task in opts.grpo else {}
    return runs | {v.name: v.overrides for v in opts.grpo_variant if v.task == task}


def train_variant(variant: Variant, opts: argparse.Namespace, storage: Path, out: Path) -> dict:
    """An ablation: the shipped SFT config with the session's overrides, then the variant's."""
    return train(variant.task, "sft", storage, [*opts.train_set, *variant.overrides], out, variant=variant.name)


def parse_variants(raw: list[list[str]], tasks: list[str]) -> list[Variant]:
    """``--variant [TASK:]NAME KEY=VALUE ...``: a name fit for an adapter name, then at least one
    override; without ``TASK:`` the variant is trained for every task of the run."""
    variants = []
    for label, *overrides in raw:
        task, _, name = label.rpartition(":")
        if task and task not in tasks:
            raise SystemExit(f"--variant {label}: {task!r} is not one of this run's tasks {tasks}")
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"--variant {label!r}: the first word is the variant's name (letters, digits, _), "
                             "optionally after TASK:")
        if not overrides or not all("=" in o for o in overrides):
            raise SystemExit(f"--variant {label}: give KEY=VALUE overrides after the name, e.g. sft.epochs=8")
        variants += [Variant(t, name, overrides) for t in ([task] if task else tasks)]
    if len({(v.task, v.name) for v in variants}) != len(variants):
        raise SystemExit("--variant names must differ within a task")
    return variants


def cells_for(task: str, opts: argparse.Namespace) -> list[Cell]:
    """Base on dev; the SFT adapter on every set, and on dev under the grammar (with --retries too) and best-of-N;
    the GRPO adapter on dev."""
    adapter = f"{task}-sft"
    cells = [Cell(task, None, "dev")] + [Cell(task, adapter, data) for data in SETS[task]]
    if not opts.no_grammar:
        cells.append(Cell(task, adapter, "dev", grammar=True))
        cells += [Cell(task, adapter, "dev", grammar=True, retries=opts.retries)] if opts.retries else []
    cells += [Cell(task, adapter, "dev", best_of=n) for n in opts.best_of if n > 1]
    cells += [Cell(task, adapter_name(task, "grpo", name), "dev") for name in grpo_runs(task, opts)]
    for variant in opts.variant:  # ablations: on the held-out dev set and the generator's val
        if variant.task == task:
            cells += [Cell(task, adapter_name(task, "sft", variant.name), data) for data in SETS[task][:2]]
    return cells


def evaluate(cell: Cell, storage: Path, out: Path, opts: argparse.Namespace) -> dict:
    folder = storage / "eval" / cell.name
    args = ["eval", "--task", cell.task, "--data", cell.data, "--backend", opts.backend, "--storage", str(storage),
            "--out", str(folder)]
    args += ["--adapter", cell.adapter] if cell.adapter else ["--model", opts.model]
    args += ["--limit", str(opts.limit)] if opts.limit else []
    args += ["--grammar"] if cell.grammar else []
    args += ["--best-of", str(cell.best_of)] if cell.best_of > 1 else []
    args += ["--retries", str(cell.retries)] if cell.retries else []
    timed = run_timed(querytune_command(*args), out / f"eval-{cell.name}.log")
    summary = json.loads((folder / "summary.json").read_text())
    log(f"eval {cell.name}: score {summary['metrics']['score']['mean']:.3f} ({timed['wall_s']:.0f} s)")
    return {"cell": cell.__dict__, "name": cell.name, "wall_s": timed["wall_s"], "count": summary["count"],
            "parse_ok": summary["parse"]["ok"], "errors": summary.get("n_errors", 0),
            "metrics": {k: v["mean"] for k, v in summary["metrics"].items()}}


def report(results: list[dict]) -> str:
    """One markdown table per task: a row per cell, the task's columns, parse rate and count."""
    parts = []
    for task in SETS:
        rows = [r for r in results if r["cell"]["task"] == task]
        if not rows:
            continue
        headers = ["model", "set", "grammar", "best of", "n", "parse", *COLUMNS[task]]
        body = [[r["cell"]["adapter"] or "base", r["cell"]["data"], ("on" if r["cell"]["grammar"] else "off")
                 + (f", {r['cell']['retries']} retries" if r["cell"].get("retries") else ""),
                 r["cell"]["best_of"], r["count"], f"{r['parse_ok']:.1%}",
                 *[_percent(r["metrics"].get(c)) for c in COLUMNS[task]]] for r in rows]
        parts.append(table(task, headers, body))
    return "\n\n".join(parts)


def construct_table(results: list[dict], storage: Path) -> str:
    """Sourcegraph dev semantic match per construct tag (the dev set records each row's), one column
    per adapter evaluated greedily and free: where a change helps and where the model still fails."""
    cells = [r for r in results if r["cell"]["task"] == "sourcegraph" and r["cell"]["data"] == "dev"
             and not r["cell"]["grammar"] and r["cell"]["best_of"] == 1]
    hits: dict[str, dict[str, list[float]]] = {}
    for r in cells:
        for line in (storage / "eval" / r["name"] / "examples.jsonl").read_text().splitlines():
            row = json.loads(line)
            for tag in row["example"].get("constructs", []):
                hits.setdefault(tag, {}).setdefault(r["name"], []).append(row["metrics"]["semantic_match"])
    if not hits:
        return ""
    names = [r["name"] for r in cells]
    body = [[tag, len(next(iter(per.values()))), *[_percent(sum(per[n]) / len(per[n])) if n in per else "-"
                                                   for n in names]] for tag, per in sorted(hits.items())]
    return table("sourcegraph dev: semantic match per construct", ["construct", "rows",
                 *[r["cell"]["adapter"] or "base" for r in cells]], body)


#: the worker phases each training's manifest times (platform/recipes/common.Phases)
PHASES = ("model", "data", "trainer", "train", "val", "checkpoint")


def time_table(trained: dict[str, dict], storage: Path) -> str:
    """Where each training's time went: the command's wall seconds beside its worker's phases (they
    ran side by side on one GPU, so each is slower than it would be alone)."""
    body = []
    for name, result in sorted(trained.items()):
        manifest = storage / "adapters" / name / "querytune.json"
        if "error" in result or not manifest.is_file():
            continue
        metrics = json.loads(manifest.read_text())["metrics"]
        body.append([name, result["wall_s"], *(metrics.get(f"time_{phase}_s", "-") for phase in PHASES)])
    return table("training time (s): command to adapter, and the worker's phases", ["adapter", "command",
                 *PHASES], body) if body else ""


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def evaluate_when_trained(cells: list[Cell], trainings: dict[str, Future], evaluate_cell: Callable[[Cell], dict],
                          jobs: int) -> list[dict]:
    """Each cell starts as soon as the adapter it evaluates is registered (a base cell, or any cell
    without a training here, at once), ``jobs`` at a time; the results come back in the cells' order."""
    waiting: dict[Future, list[Cell]] = {}
    for cell in cells:
        if cell.adapter in trainings:
            waiting.setdefault(trainings[cell.adapter], []).append(cell)
    with ThreadPoolExecutor(jobs) as pool:
        evals = {cell: pool.submit(_safe, evaluate_cell, cell) for cell in cells if cell.adapter not in trainings}
        for training in as_completed(waiting):
            evals |= {cell: pool.submit(_safe, evaluate_cell, cell, training.exception()) for cell in waiting[training]}
    return [evals[cell].result() for cell in cells]


def train_and_evaluate(opts: argparse.Namespace, storage: Path, out: Path) -> tuple[dict, list[dict]]:
    """Every training at once, each cell as soon as its adapter is registered: what each training
    returned (or its error), by adapter, and one result per cell in `cells_for` order."""
    plan = {} if opts.skip_train else training_plan(opts, storage, out)
    cells = [] if opts.skip_eval else [c for t in opts.tasks for c in cells_for(t, opts)]
    with ThreadPoolExecutor(max(len(plan), 1)) as pool:  # one GPU holds several 135M trainings at once
        trainings = start_training(plan, pool)
        results = evaluate_when_trained(cells, trainings, lambda c: evaluate(c, storage, out, opts), opts.jobs)
    trained = {name: {"error": str(f.exception())} if f.exception() else f.result() for name, f in trainings.items()}
    return trained, results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's options, variants parsed and ``--grpo`` resolved to task names (``argv``: a test's own)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra --set for every training (repeatable)")
    parser.add_argument("--grpo", nargs="*", choices=list(SETS), metavar="TASK",
                        help="GRPO from the SFT adapter (configs/<task>/grpo-gpu.yaml) of these tasks "
                             "(none named: every task of the run)")
    parser.add_argument("--grpo-set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra --set for every GRPO run (repeatable)")
    parser.add_argument("--variant", action="append", nargs="+", default=[], metavar="[TASK:]NAME KEY=VALUE",
                        help="also train `<task>-sft-NAME` with these overrides, side by side, and evaluate it "
                             "on dev (and val); TASK: limits it to one task (repeatable)")
    parser.add_argument("--grpo-variant", action="append", nargs="+", default=[], metavar="[TASK:]NAME KEY=VALUE",
                        help="also train `<task>-grpo-NAME` from the same SFT parent with these GRPO overrides, "
                             "beside the shipped GRPO, and evaluate it on dev (repeatable)")
    parser.add_argument("--skip-train", action="store_true", help="evaluate the adapters already registered")
    parser.add_argument("--skip-eval", action="store_true", help="train only (a later call evaluates)")
    parser.add_argument("--no-grammar", action="store_true", help="skip the constrained-decoding cells")
    parser.add_argument("--best-of", type=int, nargs="*", default=[], help="best-of-N cells on dev (N > 1)")
    parser.add_argument("--retries", type=int, default=0, help="also the grammar cell with this many resamples "
                        "of an unparsable answer (what a served route answers: routes.<task>.retries)")
    parser.add_argument("--jobs", type=int, default=3, help="evaluations at once on the GPU")
    parser.add_argument("--backend", default="vllm", help="eval backend (hf for a CPU smoke run)")
    parser.add_argument("--model", default="default", help="the base model the base cells evaluate")
    parser.add_argument("--limit", type=int, help="only the first N rows of each set (a smoke run)")
    parser.add_argument("--storage", default="/tmp/quality-runs", help="runs, adapters and eval folders")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    args = parser.parse_args(argv)
    args.variant = parse_variants(args.variant, args.tasks)
    args.grpo = [] if args.grpo is None else (args.grpo or args.tasks)
    args.grpo_variant = parse_variants(args.grpo_variant, args.tasks)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out, storage = results_dir(args.out), Path(args.storage)
    trained, results = train_and_evaluate(args, storage, out)
    failed = [r for r in results if "error" in r]
    done = [r for r in results if "error" not in r]
    parts = (report(done), construct_table(done, storage), time_table(trained, storage))
    markdown = "\n\n".join(part for part in parts if part)
    write(out, "quality", {"trained": trained, "results": results, "train_overrides": args.train_set,
                           "grpo_overrides": args.grpo_set,
                           "variants": [v.__dict__ for v in args.variant],
                           "grpo_variants": [v.__dict__ for v in args.grpo_variant]})
    (out / "quality.md").write_text(markdown + "\n")
    for r in failed:
        print(f"FAILED {r['name']}: {r['error'][-600:]}")
    print(markdown)


def _safe(evaluate_cell: Callable[[Cell], dict], cell: Cell, training_error: BaseException | None = None) -> dict:
    """A failed cell, or one whose adapter failed to train, is reported beside the others, not allowed to
    sink the whole table."""
    if training_error is not None:
        return {"cell": cell.__dict__, "name": cell.name, "error": f"training {cell.adapter} failed: {training_error}"}
    try:
        return evaluate_cell(cell)
    except Exception as error:  # noqa: BLE001 - every failure is printed with its log's end
        return {"cell": cell.__dict__, "name": cell.name, "error": str(error)}


if __name__ == "__main__":
    main()
