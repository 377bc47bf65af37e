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
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field, model_validator

from querytune.platform.config import Strict, TrainConfig, load_config

MODELS = ("base", "SFT", "GRPO")  # the columns of the summary
HEADLINE = "score"  # every task's headline metric (experiments/base.py)
HTTP_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 600.0
ROUTES = {"sourcegraph": "/sourcegraph/query", "qmd": "/qmd/expand"}


class DemoError(RuntimeError):
    """A stage that could not produce what the next one needs; the message says which."""


# --------------------------------------------------------------------------- config
class ConfigRef(Strict):
    """Another YAML (under configs/demo/) and ``key=value`` overrides, exactly like ``--set``."""

    file: str = Field(..., description="YAML path, relative to the directory the demo runs in")
    set: list[str] = Field(default_factory=list, description="overrides applied to the file, e.g. sweep.num_samples=2")


class TaskPlan(Strict):
    sweep: ConfigRef = Field(..., description="a sweep YAML (SweepConfig); its train.task is the task")
    eval_limit: int | None = Field(None, ge=1, description="dev examples each model answers; None = all")
    max_new_tokens: int = Field(64, ge=1, description="answer budget in the eval")


class DemoRequest(Strict):
    route: Literal["sourcegraph", "qmd"] = Field(..., description="POST /sourcegraph/query or /qmd/expand")
    query: str = Field(..., min_length=1, description="what the user typed")
    candidate_repos: list[str] = Field(default_factory=list, description="sourcegraph only: repos it may filter on")


class DemoConfig(Strict):
    """`querytune demo CONFIG`: which configs each stage runs, the HTTP requests, the stage budgets."""

    storage_path: str = Field("runs/demo", description="each run writes <storage_path>/<date-time>/")
    ray_cpus: int | None = Field(None, ge=1, description="logical CPUs of the local Ray cluster (None = the "
                                 "cores); sweep trials' drivers only wait on their workers, so logical CPUs "
                                 "beyond the cores for them keep the cores for workers. Ignored when "
                                 "joining RAY_ADDRESS")
    worker_logs: bool = Field(False, description="forward Ray workers' logs (training bars) to this terminal")
    tasks: list[TaskPlan] = Field(..., min_length=1, description="one sweep and one eval per task")
    grpo: ConfigRef | None = Field(None, description="a GRPO train YAML whose grpo.parent is a sweep's "
                                   "<task>-best; None = no GRPO stage")
    eval_backend: Literal["hf", "vllm"] = Field("hf", description="generation backend of the evals (vllm: GPU)")
    serve: ConfigRef = Field(..., description="a serve YAML (ServeFile) serving the <task>-best adapters")
    requests: list[DemoRequest] = Field(..., min_length=1, description="sent over HTTP once the app is up")
    budget_s: dict[str, float] = Field(..., description="expected seconds per stage (keys: the stage names); "
                                       "the live ETA is their sum")

    @model_validator(mode="after")
    def _stages_fit(self) -> "DemoConfig":
        tasks = [task_of(plan) for plan in self.tasks]
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks: each task once, got sweeps of {tasks}; merge the duplicates")
        if self.grpo and grpo_config(self, ".").task not in tasks:
            raise ValueError(f"grpo.file={self.grpo.file!r} trains task {grpo_config(self, '.').task!r}, which no "
                             f"sweep here trains (tasks: {tasks}); its parent <task>-best would not exist")
        missing = [s for s in stage_names(self) if s not in self.budget_s]
        unknown = [s for s in self.budget_s if s not in stage_names(self)]
        if missing or unknown:
            raise ValueError(f"budget_s: needs exactly the stages {stage_names(self)} (missing {missing}, "
                             f"unknown {unknown}); e.g. budget_s: {{{stage_names(self)[0]}: 30, ...}}")
        return self


def task_of(plan: TaskPlan) -> str:
    """The task a plan's sweep trains (read from its file, overrides applied)."""
    from querytune.platform.config import SweepConfig

    return load_config(plan.sweep.file, SweepConfig, plan.sweep.set).train.task


def stage_names(cfg: DemoConfig) -> list[str]:
    tasks = [task_of(plan) for plan in cfg.tasks]
    grpo = [f"grpo {grpo_config(cfg, '.').task}"] if cfg.grpo else []
    return ["start", "data", *(f"sweep {t}" for t in tasks), *grpo, *(f"eval {t}" for t in tasks), "serve",
            "report"]


def grpo_config(cfg: DemoConfig, folder: str) -> TrainConfig:
    return load_config(cfg.grpo.file, TrainConfig, [*cfg.grpo.set, f"run.storage_path={folder}"])


# --------------------------------------------------------------------------- live progress
@dataclass
class Stage:
    name: str
    budget_s: float
    status: str = "waiting"  # waiting | running | done | failed
    began: float | None = None
    seconds: float | None = None
    note: str = ""

    def elapsed(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return time.monotonic() - self.began if self.began else 0.0


class Progress:
    """Every stage with its state, time and budget; the total elapsed and the ETA (rich renderable)."""

    ICONS = {"waiting": "·", "running": "▶", "done": "[green]✓[/]", "failed": "[red]✗[/]"}

    def __init__(self, budgets: dict[str, float], console):
        self.stages = [Stage(name, seconds) for name, seconds in budgets.items()]
        self.console = console
        self.began = time.monotonic()

    def eta_s(self) -> float:
        """Budgets of the stages still to come, plus what the running one has left of its own."""
        return sum(max(0.0, s.budget_s - s.elapsed()) for s in self.stages if s.status in ("waiting", "running"))

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = next(s for s in self.stages if s.name == name)
        stage.status, stage.began = "running", time.monotonic()
        self.console.log(f"[bold]{name}[/] started (budget {clock(stage.budget_s)})")
        try:
            yield stage
        except BaseException:
            stage.status, stage.seconds = "failed", stage.elapsed()
            raise
        stage.status, stage.seconds = "done", stage.elapsed()
        self.console.log(f"[bold]{name}[/] done in {clock(stage.seconds)}" + (f": {stage.note}" if stage.note
                                                                               else ""))

    def __rich__(self):
        from rich.table import Table

        total = time.monotonic() - self.began
        table = Table(title=f"querytune demo — elapsed {clock(total)}, ETA {clock(self.eta_s())}",
                      title_justify="left", expand=False)
        for col, justify in (("", "center"), ("stage", "left"), ("time", "right"), ("budget", "right"),
                             ("", "left")):
            table.add_column(col, justify=justify)
        for s in self.stages:
            table.add_row(self.ICONS[s.status], s.name, clock(s.elapsed()) if s.began else "", clock(s.budget_s),
                          s.note, style="bold" if s.status == "running" else None)
        return table


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- the run
@dataclass
class DemoRun:
    """What a run produced; written as demo.json beside the report."""

    folder: str
    model: str
    started: str
    stages: list[dict] = field(default_factory=list)
    data: dict[str, dict] = field(default_factory=dict)
    sweeps: dict[str, dict] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    evals: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> model label -> eval folder
    compares: dict[str, str] = field(default_factory=dict)
    summary: list[dict] = field(default_factory=list)
    url: str = ""
    answers: list[dict] = field(default_factory=list)
    report: str = ""
    ray_session: str = ""
    seconds: float = 0.0


@dataclass
class Plan:
    """Every stage's config, resolved and validated before anything starts (a typo costs seconds, not a sweep)."""

    sweeps: dict[str, Any]  # task -> SweepConfig
    grpo: TrainConfig | None
    serve: Any  # ServeFile


def resolve(cfg: DemoConfig, folder: Path) -> Plan:
    """Load each referenced YAML with its overrides, every storage path pointed at this run's folder."""
    from querytune.platform.config import SweepConfig
    from querytune.serve.config import load_serve_file

    sweeps = {}
    for plan in cfg.tasks:
        sweep = load_config(plan.sweep.file, SweepConfig, [*plan.sweep.set, f"train.run.storage_path={folder}"])
        sweeps[sweep.train.task] = sweep
    grpo = grpo_config(cfg, str(folder)) if cfg.grpo else None
    serve = load_serve_file(cfg.serve.file, [*cfg.serve.set, f"storage_path={folder}"])
    return Plan(sweeps, grpo, serve)


def run(cfg: DemoConfig) -> DemoRun:
    """Every stage in order under a live progress view; Serve and Ray are shut down at the end."""
    from rich import get_console
    from rich.live import Live

    console = get_console()
    folder = (Path(cfg.storage_path) / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    plan = resolve(cfg, folder)
    folder.mkdir(parents=True)
    progress = Progress({name: cfg.budget_s[name] for name in stage_names(cfg)}, console)
    model = next(iter(plan.sweeps.values())).train.model.name
    result = DemoRun(folder=str(folder), model=model, started=datetime.now().isoformat(timespec="seconds"))
    try:
        with Live(progress, console=console, refresh_per_second=2, transient=True):
            with progress.stage("start") as stage:
                start(cfg, plan, result, stage)
            with progress.stage("data") as stage:
                build_data(plan, folder, result, stage, console)
            for task, sweep_cfg in plan.sweeps.items():
                with progress.stage(f"sweep {task}") as stage:
                    run_sweep(sweep_cfg, result, stage, console)
            if plan.grpo:
                with progress.stage(f"grpo {plan.grpo.task}") as stage:
                    run_grpo(plan.grpo, result, stage)
            for task_plan, (task, sweep_cfg) in zip(cfg.tasks, plan.sweeps.items()):
                with progress.stage(f"eval {task}") as stage:
                    evaluate(cfg, task_plan, task, sweep_cfg.train.model.name, result, stage, console)
            result.summary = summary_rows(result)
            with progress.stage("serve") as stage:
                serve_and_ask(cfg, plan.serve, result, stage, console)
            with progress.stage("report") as stage:
                record(result, progress)
                result.report = str(write_report(result))
                stage.note = "report.html"
    finally:
        stop()
        record(result, progress)
        (folder / "demo.json").write_text(json.dumps(asdict(result), indent=2, default=str))
    return result


def record(result: DemoRun, progress: Progress) -> None:
    result.seconds = time.monotonic() - progress.began
    result.stages = [{"name": s.name, "status": s.status, "seconds": s.seconds, "budget_s": s.budget_s,
                      "note": s.note} for s in progress.stages]


# --------------------------------------------------------------------------- stages
def start(cfg: DemoConfig, plan: Plan, result: DemoRun, stage: Stage) -> None:
    """Ray (a new local cluster, or RAY_ADDRESS's) and the base models, converted once and cached."""
    import datasets
    import ray
    import transformers

    from querytune.platform import models

    datasets.disable_progress_bars()  # the live view shows progress; per-file bars only scroll it away
    transformers.utils.logging.disable_progress_bar()

    joined = bool(os.environ.get("RAY_ADDRESS"))
    if joined:
        ray.init(log_to_driver=cfg.worker_logs, configure_logging=False)
    else:
        # [ray] Workers' state-API calls (Ray Train's placement-group cleaner) look for "the" cluster and fail
        # when a machine runs several; naming this one's dashboard, before its processes start, fixes that.
        port = free_port()
        os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{port}"
        # [ray] address="local": a new cluster, never another one that `ray start` left on this machine
        ray.init(address="local", num_cpus=cfg.ray_cpus, dashboard_port=port, log_to_driver=cfg.worker_logs,
                 configure_logging=False)
    result.ray_session = session_dir()
    for name in {s.train.model.name for s in plan.sweeps.values()}:
        models.resolve(name)
    cpus = ray.cluster_resources().get("CPU", 0)
    stage.note = f"{'joined' if joined else 'local'} Ray, {cpus:g} CPUs; base {result.model}"


def session_dir() -> str:
    """This Ray session's folder; its name is on the command line of every process of the cluster."""
    from ray._private.worker import _global_node

    return _global_node.get_session_dir_path() if _global_node else ""


def stop() -> None:
    """Leave Ray: stops the local cluster this process started, only disconnects from a joined one."""
    import ray

    ray.shutdown()


def build_data(plan: Plan, folder: Path, result: DemoRun, stage: Stage, console) -> None:
    """Each task's splits, written as Parquet, with one training pair shown."""
    from rich.table import Table

    from querytune.experiments import get_task
    from querytune.platform import data

    table = Table(title="data: rows per split, one training pair")
    for col in ("task", "rows", "fingerprint", "prompt", "target"):
        table.add_column(col, overflow="fold")
    for task_name, sweep_cfg in plan.sweeps.items():
        task = get_task(task_name)
        splits = data.build(task, sweep_cfg.train.data)
        data.write_splits(splits, folder / "data" / task_name)
        example = splits["train"][0]
        counts = {name: len(split) for name, split in splits.items()}
        result.data[task_name] = {"rows": counts, "fingerprint": data.fingerprint(splits),
                                  "prompt": task.messages(example)[-1]["content"], "target": task.target(example)}
        table.add_row(task_name, ", ".join(f"{k} {n}" for k, n in counts.items()), data.fingerprint(splits)[:19],
                      short(result.data[task_name]["prompt"], 80), short(result.data[task_name]["target"], 80))
    console.print(table)
    stage.note = ", ".join(f"{t}: {d['rows'].get('train', 0)} train rows" for t, d in result.data.items())


def run_sweep(sweep_cfg, result: DemoRun, stage: Stage, console) -> None:
    """Ray Tune over LoRA SFT (ASHA on the val task metric); the best trial becomes <task>-best."""
    from querytune.platform import sweep

    outcome = sweep.run(sweep_cfg)
    console.print(sweep.leaderboard_table(outcome))
    if not outcome.registered:
        raise DemoError(f"sweep {sweep_cfg.train.run.name}: no trial finished, so there is no adapter to "
                        f"serve (see {outcome.report})")
    task = sweep_cfg.train.task
    result.sweeps[task] = {"adapter": outcome.registered, "best_trial": outcome.best.trial,
                           "metric": outcome.metric, "value": outcome.best.metric, "params": outcome.best.params,
                           "trials": [(r.trial, r.status, r.metric) for r in outcome.rows],
                           "report": outcome.report}
    stopped = sum(r.status == sweep.STOPPED for r in outcome.rows)
    stage.note = (f"{len(outcome.rows)} trials ({stopped} stopped by ASHA); {outcome.registered}: "
                  f"{outcome.metric} {fmt(outcome.best.metric)}")


def run_grpo(cfg: TrainConfig, result: DemoRun, stage: Stage) -> None:
    """GRPO from the sweep's best SFT adapter; the validation-best step is registered."""
    from querytune.platform import launch

    outcome = launch.train(cfg)
    metrics = outcome.metrics
    result.grpo = {"task": cfg.task, "adapter": outcome.name, "parent": cfg.grpo.parent, "steps": cfg.grpo.steps,
                   "note": metrics.get("note", ""), "parent_val_score": metrics.get("parent_val_score"),
                   "val_score": metrics.get("val_score"), "selected_step": metrics.get("selected_step")}
    stage.note = (f"{outcome.name} ← {cfg.grpo.parent}: val {fmt(metrics.get('parent_val_score'))} → "
                  f"{fmt(metrics.get('val_score'))} (step {metrics.get('selected_step')})")


def evaluate(cfg: DemoConfig, plan: TaskPlan, task: str, model: str, result: DemoRun, stage: Stage,
             console) -> None:
    """Base model, SFT and (where trained) GRPO adapters on the same dev examples; a paired comparison."""
    from querytune.platform.evaluate import EvalSpec, compare_runs, run_eval

    storage = result.folder
    adapters = {"base": None, "SFT": result.sweeps[task]["adapter"]}
    if result.grpo.get("task") == task:
        adapters["GRPO"] = result.grpo["adapter"]
    runs = {}
    for label, adapter in adapters.items():
        spec = EvalSpec(task=task, model=model, adapter=adapter, data="dev", backend=cfg.eval_backend,
                        limit=plan.eval_limit, max_new_tokens=plan.max_new_tokens, storage=storage,
                        out=str(Path(storage) / "eval" / f"{task}-{label.lower()}"))
        runs[label] = str(run_eval(spec))
        stage.note = f"{label} done"
    result.evals[task] = runs
    _, _, compare_folder = compare_runs(list(runs.values()), Path(storage) / "compare" / task, storage)
    result.compares[task] = str(compare_folder / "report.html")
    scores = {label: headline(folder) for label, folder in runs.items()}
    stage.note = ", ".join(f"{label} {fmt(score['mean'])}" for label, score in scores.items())
    console.print(f"[bold]{task}[/] dev {HEADLINE}: {stage.note}")


def headline(folder: str) -> dict[str, Any]:
    """The headline metric of an eval run (mean, CI, n) and its strict-parse rate."""
    summary = json.loads((Path(folder) / "summary.json").read_text())
    return {**summary["metrics"][HEADLINE], "parse_ok": summary["parse"]["ok"], "count": summary["count"]}


def summary_rows(result: DemoRun) -> list[dict]:
    """Per task: each model's headline score and parse rate, and whether fine-tuning beat the base."""
    rows = []
    for task, runs in result.evals.items():
        scores = {label: headline(folder) for label, folder in runs.items()}
        tuned = max(v["mean"] for k, v in scores.items() if k != "base")
        rows.append({"task": task, "n": scores["base"]["count"],
                     **{label: scores.get(label) for label in MODELS},
                     "beats_base": tuned > scores["base"]["mean"]})
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_ask(cfg: DemoConfig, file, result: DemoRun, stage: Stage, console) -> None:
    """Deploy the serve config's app on a free loopback port, send every request, shut Serve down."""
    from ray import serve

    from querytune.serve.app import build_app

    port = free_port()
    result.url = f"http://127.0.0.1:{port}"
    application = build_app(file.app.args)  # registry and config errors surface before Serve starts
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})  # [ray] Serve's HTTP proxy
        serve.run(application, name=file.app.name, route_prefix="/", blocking=False)  # [ray] waits until up
        stage.note = f"serving at {result.url}"
        result.answers = ask(result.url, cfg.requests, stage, console)
    finally:
        serve.shutdown()  # [ray] drains requests, stops replicas, proxy and controller
    valid = sum(a["valid"] for a in result.answers)
    stage.note = f"{len(result.answers)} requests over HTTP, {valid} valid answers"


def ask(url: str, requests: list[DemoRequest], stage: Stage, console) -> list[dict]:
    """Each request once, in order, as a client would send it; server and client latency recorded."""
    import httpx

    answers = []
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        wait_ready(client)
        for i, request in enumerate(requests, 1):
            body = {"query": request.query}
            if request.route == "sourcegraph":
                body["candidate_repos"] = request.candidate_repos
            began = time.perf_counter()
            response = client.post(ROUTES[request.route], json=body)
            seconds = time.perf_counter() - began
            if response.status_code != 200:
                raise DemoError(f"POST {ROUTES[request.route]} {body} answered {response.status_code}: "
                                f"{response.text[:300]}")
            answers.append(answer_record(request, response.json(), seconds))
            stage.note = f"{i}/{len(requests)} requests answered"
            console.log(f"POST {ROUTES[request.route]} {request.query!r} -> {short(answers[-1]['answer'], 90)!r} "
                        f"({'valid' if answers[-1]['valid'] else 'INVALID'}, {seconds * 1e3:.0f} ms)")
    return answers


def wait_ready(client) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DemoError(f"the app did not answer GET /healthz within {READY_TIMEOUT_S:.0f} s")


def answer_record(request: DemoRequest, body: dict, seconds: float) -> dict:
    """One HTTP answer in the report's terms: the text, valid, retries and both latencies."""
    if request.route == "sourcegraph":
        text = body["query"]
    else:
        text = "\n".join([*(f"lex: {x}" for x in body["lex"]), *(f"vec: {x}" for x in body["vec"]),
                          *([f"hyde: {body['hyde']}"] if body.get("hyde") else [])]) or body["raw"]
    return {"route": ROUTES[request.route], "request": request.query, "candidate_repos": request.candidate_repos,
            "answer": text, "valid": body["valid"], "retries": body.get("retries", 0), "model": body["model"],
            "server_ms": body["latency_ms"], "client_ms": seconds * 1e3}


# --------------------------------------------------------------------------- output
def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def score_cell(score: dict | None) -> str:
    if score is None:
        return "—"
    return f"{score['mean']:.3f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}]"


def parse_cell(row: dict) -> str:
    return " / ".join(f"{row[m]['parse_ok']:.0%}" for m in MODELS if row[m])


def summary_table(result: DemoRun):
    from rich.table import Table

    table = Table(title=f"dev-set {HEADLINE} (mean [95% CI]) and strict-parse rate, {result.model}")
    for col in ("task", "n", *MODELS, "parse ok", "fine-tuned > base"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for row in result.summary:
        table.add_row(row["task"], str(row["n"]), *(score_cell(row[m]) for m in MODELS), parse_cell(row),
                      "[green]yes[/]" if row["beats_base"] else "[red]no[/]")
    return table


def answers_table(answers: list[dict]):
    from rich.table import Table

    table = Table(title="HTTP answers")
    for col in ("route", "request", "answer", "valid", "retries", "ms"):
        table.add_column(col, overflow="fold", justify="right" if col in ("retries", "ms") else "left")
    for a in answers:
        table.add_row(a["route"], a["request"], short(a["answer"], 160),
                      "[green]yes[/]" if a["valid"] else "[red]no[/]", str(a["retries"]), f"{a['client_ms']:.0f}")
    return table


def stages_table(result: DemoRun):
    from rich.table import Table

    table = Table(title=f"stages: {clock(result.seconds)} in all")
    for col in ("stage", "time", "budget", "result"):
        table.add_column(col, justify="right" if col in ("time", "budget") else "left", overflow="fold")
    for s in result.stages:
        table.add_row(s["name"], clock(s["seconds"] or 0), clock(s["budget_s"]), s["note"])
    return table


def write_report(result: DemoRun) -> Path:
    """report.html: summary, HTTP answers, sweeps, GRPO, stages, links to every sweep/eval/compare report."""
    from querytune.platform.report import Report

    folder = Path(result.folder)
    report = Report(f"querytune demo — {result.model}")
    report.text("data → Ray Tune sweep of LoRA SFT per task (ASHA) → <task>-best → GRPO → base vs SFT vs GRPO "
                "on the dev sets → Ray Serve app with both adapters → requests over HTTP.")
    report.text(f"Started {result.started}; {clock(result.seconds)} until this report. Everything below was "
                f"produced by this run under {folder}.", muted=True)
    add_summary(report, result)
    add_answers(report, result)
    add_training(report, result)
    report.heading("Stages")
    report.table(["stage", "seconds", "budget (s)", "result"],
                 [[s["name"], round(s["seconds"]), round(s["budget_s"]), s["note"]] for s in result.stages
                  if s["status"] == "done"])
    report.heading("Reports and files")
    report.links((what, os.path.relpath(path, folder)) for what, path in linked_files(result))
    return report.write(folder)


def add_summary(report, result: DemoRun) -> None:
    from querytune.platform.report import ci_bars_figure

    report.heading(f"Base vs fine-tuned on the dev sets ({HEADLINE}: mean [95% CI])")
    report.table(["task", "examples", *MODELS, "parse ok (base / SFT / GRPO)", "fine-tuned beats base"],
                 [[r["task"], r["n"], *(score_cell(r[m]) for m in MODELS), parse_cell(r),
                   "yes" if r["beats_base"] else "no"] for r in result.summary])
    series = {m: [(r[m]["mean"], r[m]["ci_low"], r[m]["ci_high"]) if r[m] else (math.nan,) * 3
                  for r in result.summary] for m in MODELS}
    report.figure("summary", ci_bars_figure([r["task"] for r in result.summary], series,
                                            xlabel=f"{HEADLINE} (0..1)", xlim=(0, 1)),
                  "Headline score per task and model on the same dev examples, 95% bootstrap intervals.")


def add_answers(report, result: DemoRun) -> None:
    report.heading(f"Answers over HTTP ({result.url}, Ray Serve)")
    report.table(["route", "request", "answer", "valid", "retries", "latency (ms)"],
                 [[a["route"], a["request"] + (f"  (candidate repos: {', '.join(a['candidate_repos'])})"
                                               if a["candidate_repos"] else ""), a["answer"],
                   "yes" if a["valid"] else "no", a["retries"], round(a["client_ms"])] for a in result.answers])


def add_training(report, result: DemoRun) -> None:
    report.heading("Sweeps (Ray Tune: Optuna TPE + ASHA)")
    report.table(["task", "best adapter", "best trial", "metric", "params", "trials (status, metric)"],
                 [[task, s["adapter"], s["best_trial"], f"{s['metric']} {fmt(s['value'])}",
                   ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in s["params"].items()),
                   "; ".join(f"{n}: {status} {fmt(metric)}" for n, status, metric in s["trials"])]
                  for task, s in result.sweeps.items()])
    if result.grpo:
        report.heading("GRPO")
        report.text(f"{result.grpo['adapter']} from {result.grpo['parent']} ({result.grpo['steps']} steps): "
                    f"{result.grpo['note']}.")


def linked_files(result: DemoRun) -> list[tuple[str, str]]:
    files = [(f"sweep {t}", s["report"]) for t, s in result.sweeps.items()]
    for task, runs in result.evals.items():
        files += [(f"eval {task} {label}", str(Path(f) / "report.html")) for label, f in runs.items()]
        files.append((f"compare {task}", result.compares[task]))
    return files + [("adapter registry", str(Path(result.folder) / "adapters")), ("this run's record",
                                                                               str(Path(result.folder) / "demo.json"))]
