"""The demo's report.html from a hand-made run record: summary, answers with their line breaks, links."""
from __future__ import annotations

import re

from querytune.demo import DemoRun, write_report

QMD_ANSWER = "lex: sourdough hydration\nlex: dough water ratio\nvec: how much water goes into sourdough bread"
SCORE = {"mean": 0.5, "ci_low": 0.25, "ci_high": 0.75, "parse_ok": 0.9, "count": 4}


def record(folder) -> DemoRun:
    """Only what the report reads; the numbers are made up."""
    evals = {"qmd": {"base": str(folder / "eval" / "qmd-base"), "SFT": str(folder / "eval" / "qmd-sft")}}
    return DemoRun(
        folder=str(folder), model="tiny-qwen3", started="2026-12-01T10:00:00", seconds=75.0,
        stages=[{"name": "start", "status": "done", "seconds": 3.2, "budget_s": 10, "note": "local Ray"}],
        sweeps={"qmd": {"adapter": "qmd-best", "best_trial": "t0", "metric": "score", "value": 0.5,
                        "params": {"sft.lr": 0.002, "lora.r": 8}, "trials": [("t0", "TERMINATED", 0.5)],
                        "report": str(folder / "sweeps" / "report.html")}},
        evals=evals, compares={"qmd": str(folder / "compare" / "qmd" / "report.html")},
        summary=[{"task": "qmd", "n": 4, "base": {**SCORE, "mean": 0.25}, "SFT": SCORE, "GRPO": None,
                  "beats_base": True}],
        url="http://127.0.0.1:8000",
        answers=[{"route": "/qmd/expand", "request": "sourdough hydration", "candidate_repos": [],
                  "answer": QMD_ANSWER, "valid": True, "retries": 0, "model": "qmd-best", "server_ms": 40.0,
                  "client_ms": 45.0}])


def test_report_keeps_each_line_of_a_qmd_answer(tmp_path):
    page = write_report(record(tmp_path)).read_text()
    assert "lex: sourdough hydration<br>lex: dough water ratio<br>vec: how much water" in page


def test_report_holds_the_summary_figure_and_relative_links(tmp_path):
    path = write_report(record(tmp_path))
    page = path.read_text()
    assert path == tmp_path / "report.html" and "Base vs fine-tuned" in page
    assert (tmp_path / "summary.png").read_bytes().startswith(b"\x89PNG") and 'data-file="summary.png"' in page
    hrefs = re.findall(r'<a href="([^"]+)"', page)
    assert "eval/qmd-sft/report.html" in hrefs and "demo.json" in hrefs and not any(h.startswith("/") for h in hrefs)
