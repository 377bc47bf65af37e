"""An eval run's summary in the terminal: what `querytune eval` and `querytune score` print at the end."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from querytune.platform.evaluate.report import cell

if TYPE_CHECKING:
    from rich.console import Console


def print_summary(folder: Path, console: "Console") -> None:
    """The run's metric table (mean, CI, direction), latency and where the files are."""
    summary = json.loads((folder / "summary.json").read_text())
    version = summary["scorer_version"] or "-"
    table = Table(title=f"{summary['task']}: {summary['count']} examples (scorer version {version})")
    for col, justify in (("metric", "left"), ("", "left"), ("mean [95% CI]", "right"), ("n", "right")):
        table.add_column(col, justify=justify)
    for name, m in summary["metrics"].items():
        table.add_row(name, "↑" if m["higher_is_better"] else "↓", cell(m), str(m["n"]))
    console.print(table)
    console.print(f"parse ok {summary['parse']['ok']:.1%}  failures {summary['parse']['failures'] or '-'}  "
                  f"unscorable (score 0) {summary.get('n_errors', 0)}")
    resampled, spec = summary.get("resampled", {}), summary.get("spec", {})
    if resampled.get("answers"):
        console.print(f"resampled {resampled['answers']} unparsable answers ({resampled['samples']} samples, "
                      f"--retries {spec['retries']} at T {spec['retry_temperature']})")
    if "latency" in summary:
        lat, cost = summary["latency"], summary["cost"]
        console.print(f"latency: first {lat['first_request_s']:.3f}s, p50 {lat['p50_s']:.3f}s, "
                      f"p95 {lat['p95_s']:.3f}s, p99 {lat['p99_s']:.3f}s; {lat['queries_per_s']:.2f} q/s; "
                      f"${cost['usd_per_million_queries']:,.2f} per 1M queries at ${cost['price_per_hour']}/h")
    console.print(f"run -> {folder} (examples.jsonl, summary.json, report.html)")
