"""throughput.png from the recorded benchmark: the points fill the chart, goals far outside it are named."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt

from bench.throughput import GOAL_P95_MS, GOAL_RPS, plot

RESULT = Path(__file__).resolve().parents[2] / "bench" / "results" / "2026-11-25" / "throughput.json"


def test_the_measured_points_span_the_chart_and_the_far_goal_is_named(tmp_path):
    levels = json.loads(RESULT.read_text())["levels"]
    fig = plot(levels, tmp_path / "throughput.png")
    (ax,) = fig.axes
    plt.close(fig)
    rps = [lvl["throughput_rps"] for lvl in levels]
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low == 0 and max(rps) <= x_high <= 1.5 * max(rps)  # not 0..1000 with the data in its left 2%
    assert y_low == 0 and max(lvl["latency_ms"]["p99"] for lvl in levels) <= y_high
    assert f"{GOAL_RPS:.0f} answers/s beyond this chart" in ax.get_title()
    assert (tmp_path / "throughput.png").read_bytes().startswith(b"\x89PNG")


def test_a_goal_near_the_data_is_drawn(tmp_path):
    near = [{"concurrency": c, "throughput_rps": GOAL_RPS * f, "latency_ms": {"p50": GOAL_P95_MS * f,
                                                                             "p95": GOAL_P95_MS * 1.5 * f,
                                                                             "p99": GOAL_P95_MS * 2 * f}}
            for c, f in ((1, 0.3), (8, 0.9))]
    fig = plot(near)
    (ax,) = fig.axes
    plt.close(fig)
    assert ax.get_xlim()[1] >= GOAL_RPS and "beyond" not in ax.get_title()
    assert {round(line.get_xdata()[0]) for line in ax.lines if line.get_linestyle() == ":"} >= {round(GOAL_RPS)}
