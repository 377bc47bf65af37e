"""Screenshots of the demo, sweep and eval reports for the README, taken with headless Chromium.

    python scripts/screenshot_reports.py                                  # runs the tiny demo first (minutes)
    python scripts/screenshot_reports.py --run runs/demo/20261130-025537  # a `make demo` run folder
    python scripts/screenshot_reports.py --run DIR --only eval sweep      # leave docs/demo-report.png as it is

Writes ``docs/demo-report.png``, ``docs/sweep-report.png`` and ``docs/eval-report.png``: the
top of each page, 1200 px wide. The sweep and eval shown are one task's (``--task``); the
eval is its fine-tuned (SFT) adapter's. Needs ``chromium`` (``apt-get install -y chromium``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_DEMO = "configs/demo/demo-tiny.yaml"
WIDTH = 1200
HEIGHTS = {"demo": 1500, "sweep": 1500, "eval": 2200}  # px of each page shown: its first sections
DEMO_TIMEOUT_S = 1800


def run_tiny_demo(storage: Path) -> Path:
    """`querytune demo` on the tiny model, as tests/test_demo.py runs it; returns its run folder."""
    command = [str(Path(sys.executable).with_name("querytune")), "demo", TINY_DEMO, "--set", f"storage_path={storage}"]
    subprocess.run(command, cwd=REPO, check=True, timeout=DEMO_TIMEOUT_S)
    (folder,) = [p for p in storage.iterdir() if p.is_dir()]
    return folder


def report_pages(run: Path, task: str) -> dict[str, Path]:
    """The report.html of the run itself, of the task's sweep and of its SFT eval (read from demo.json)."""
    record = json.loads((run / "demo.json").read_text())
    if task not in record["sweeps"]:
        raise SystemExit(f"--task {task}: the run at {run} swept only {sorted(record['sweeps'])}; pick one of those")
    return {"demo": run / "report.html", "sweep": Path(record["sweeps"][task]["report"]),
            "eval": Path(record["evals"][task]["SFT"]) / "report.html"}


def screenshot(chromium: str, page: Path, png: Path, height: int, profile: Path) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{height}", f"--screenshot={png}"]
    subprocess.run([chromium, *flags, page.resolve().as_uri()], capture_output=True, check=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a demo run folder (holds demo.json); default: run the tiny demo")
    parser.add_argument("--task", default="sourcegraph", help="whose sweep and eval reports to show")
    parser.add_argument("--only", nargs="+", choices=sorted(HEIGHTS), default=sorted(HEIGHTS), help="which reports")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder of the PNGs")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs chromium on PATH (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or run_tiny_demo(Path(tmp) / "demo")
        pages = report_pages(run, args.task)
        args.out.mkdir(parents=True, exist_ok=True)
        for name in args.only:
            png = args.out / f"{name}-report.png"
            screenshot(chromium, pages[name], png, HEIGHTS[name], Path(tmp) / "profile")
            print(f"{pages[name]} -> {png}")


if __name__ == "__main__":
    main()
