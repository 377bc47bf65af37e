"""The demo's stages in the order they run; each calls the module that owns it, as a library.

``run`` goes start (Ray, base models) -> data -> one sweep per task -> GRPO -> evals ->
Serve and the HTTP requests -> report, under the live progress view, and always leaves Ray.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from querytune.demo.config import (
    HEADLINE,
    HTTP_TIMEOUT_S,
    MODELS,
    READY_TIMEOUT_S,
    ROUTES,
    DemoConfig,
    DemoError,
    DemoRequest,
    Plan,
    TaskPlan,
    resolve,
    stage_names,
)
from querytune.demo.progress import DemoRun, Progress, Stage, record
from querytune.demo.report import fmt, short, write_report
from querytune.netutil import free_port
from querytune.platform.config import GrpoTrainConfig


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
    from querytune.platform import leaderboard, sweep

    outcome = sweep.run(sweep_cfg)
    console.print(leaderboard.table(outcome))
    if not outcome.registered:
        raise DemoError(f"sweep {sweep_cfg.train.run.name}: no trial finished, so there is no adapter to "
                        f"serve (see {outcome.report})")
    task = sweep_cfg.train.task
    result.sweeps[task] = {"adapter": outcome.registered, "best_trial": outcome.best.trial,
                           "metric": outcome.metric, "value": outcome.best.metric, "params": outcome.best.params,
                           "trials": [(r.trial, r.status, r.metric) for r in outcome.rows],
                           "report": outcome.report}
    stopped = sum(r.status == leaderboard.STOPPED for r in outcome.rows)
    stage.note = (f"{len(outcome.rows)} trials ({stopped} stopped by ASHA); {outcome.registered}: "
                  f"{outcome.metric} {fmt(outcome.best.metric)}")


def run_grpo(cfg: GrpoTrainConfig, result: DemoRun, stage: Stage) -> None:
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
    """All requests at once, as that many clients would send them (the engine batches them), answered
    in request order with server and client latency: one at a time, the three qmd answers took 22 s."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    answered = []
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        wait_ready(client)

        def send(request: DemoRequest) -> dict:
            body = {"query": request.query}
            if request.route == "sourcegraph":
                body["candidate_repos"] = request.candidate_repos
            began = time.perf_counter()
            response = client.post(ROUTES[request.route], json=body)
            seconds = time.perf_counter() - began
            if response.status_code != 200:
                raise DemoError(f"POST {ROUTES[request.route]} {body} answered {response.status_code}: "
                                f"{response.text[:300]}")
            record = answer_record(request, response.json(), seconds)
            answered.append(record)
            stage.note = f"{len(answered)}/{len(requests)} requests answered"
            console.log(f"POST {ROUTES[request.route]} {request.query!r} -> {short(record['answer'], 90)!r} "
                        f"({'valid' if record['valid'] else 'INVALID'}, {seconds * 1e3:.0f} ms)")
            return record

        with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
            return list(pool.map(send, requests))


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

