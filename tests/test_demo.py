"""`querytune demo` end to end on the tiny model: the same command and code path as `make demo`
(data, sweeps, GRPO, evals, Ray Serve over HTTP, report), run once as a subprocess. Every
stage runs, the report holds the summary and the answers, and nothing is left running."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from querytune.demo import DemoConfig, resolve, stage_names
from querytune.platform import adapters
from querytune.platform.config import load_config

REPO = Path(__file__).resolve().parents[1]
TINY = "configs/demo/demo-tiny.yaml"
DEMO_TIMEOUT_S = 1200  # the tiny demo takes minutes; this only stops a hang
slow = pytest.mark.slow  # tests of the tiny demo's one run (module fixture): minutes


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    """Demo configs name other configs relative to the repo root, where `make demo` runs."""
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("path", sorted(REPO.glob("configs/demo/demo*.yaml")), ids=lambda p: p.name)
def test_shipped_demo_configs_resolve_every_stage_config(path, tmp_path):
    cfg = load_config(path, DemoConfig)
    plan = resolve(cfg, tmp_path)
    assert {s.train.run.storage_path for s in plan.sweeps.values()} == {str(tmp_path)}
    assert plan.grpo.grpo.parent == f"{plan.grpo.task}-best" and plan.serve.app.args.storage_path == str(tmp_path)
    models = {s.train.model.name for s in plan.sweeps.values()} | {plan.grpo.model.name}
    assert len(models) == 1, f"{path.name}: sweeps and GRPO must share one base model, got {models}"
    served = {spec.adapter for d in plan.serve.app.args.deployments for spec in d.adapters}
    assert served == {f"{task}-best" for task in plan.sweeps}
    assert {r.route for r in cfg.requests} <= set(plan.serve.app.args.routes)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_model) -> dict:
    """Run the CLI once; hand the tests its stdout, its demo.json and its run folder."""
    storage = tmp_path_factory.mktemp("demo")
    command = [str(Path(sys.executable).with_name("querytune")), "demo", TINY, "--set", f"storage_path={storage}"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    (folder,) = [p for p in storage.iterdir() if p.is_dir()]
    return {"stdout": proc.stdout, "record": json.loads((folder / "demo.json").read_text()), "folder": folder}


@slow
def test_every_stage_ran_in_order_and_was_timed(demo):
    expected = stage_names(load_config(TINY, DemoConfig))
    stages = demo["record"]["stages"]
    assert [s["name"] for s in stages] == expected
    assert all(s["status"] == "done" and s["seconds"] > 0 for s in stages), stages


@slow
def test_sweeps_registered_the_best_adapters_and_grpo_records_its_parent(demo):
    storage = str(demo["folder"])
    names = {m.name: m for m in adapters.list_adapters(storage)}
    assert {"sourcegraph-best", "qmd-best", "sourcegraph-grpo"} <= set(names)
    assert [p.name for p in names["sourcegraph-grpo"].parents] == ["sourcegraph-best"]
    for task in ("sourcegraph", "qmd"):
        assert Path(demo["record"]["sweeps"][task]["report"]).is_file()


@slow
def test_base_sft_and_grpo_were_evaluated_on_the_same_dev_examples(demo):
    record = demo["record"]
    assert set(record["evals"]["sourcegraph"]) == {"base", "SFT", "GRPO"}
    assert set(record["evals"]["qmd"]) == {"base", "SFT"}
    for row in record["summary"]:
        scored = [row[m] for m in ("base", "SFT", "GRPO") if row[m]]
        assert {s["count"] for s in scored} == {row["n"]} and 0 <= min(s["mean"] for s in scored) <= 1


@slow
def test_every_request_got_an_answer_over_http(demo):
    cfg = load_config(TINY, DemoConfig)
    answers = demo["record"]["answers"]
    assert [a["request"] for a in answers] == [r.query for r in cfg.requests]
    assert all(a["model"] in ("sourcegraph-best", "qmd-best") and a["server_ms"] > 0 for a in answers)
    assert {a["route"] for a in answers} == {"/sourcegraph/query", "/qmd/expand"}


@slow
def test_report_shows_summary_answers_and_links_that_exist(demo):
    page = (demo["folder"] / "report.html").read_text()
    assert "Base vs fine-tuned" in page and "summary.png" in page
    for answer in demo["record"]["answers"]:
        assert answer["request"] in page
    linked = [demo["folder"] / href for href in re.findall(r'<a href="([^"]+)"', page)]
    assert len(linked) >= 7 and all(p.exists() for p in linked), [p for p in linked if not p.exists()]


@slow
def test_cli_ends_with_summary_table_and_report_path(demo):
    out = demo["stdout"]
    assert "fine-tuned > base" in out and "HTTP answers" in out
    assert f"report -> {demo['folder'] / 'report.html'}" in out.replace("\n", "")


@slow
def test_nothing_is_left_running(demo):
    session = Path(demo["record"]["ray_session"]).name
    assert session.startswith("session_")
    left = [p.info["pid"] for p in psutil.process_iter(["pid", "cmdline"])
            if any(session in part for part in p.info["cmdline"] or [])]
    assert left == [], f"processes of the demo's Ray session still running: {left}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(demo["record"]["url"] + "/healthz", timeout=5)
