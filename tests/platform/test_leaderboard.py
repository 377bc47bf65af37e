"""The sweep report's plots: what a reader sees must be legible and span the search."""
from __future__ import annotations

import matplotlib

from querytune.platform.leaderboard import TrialRow, params_figure
from querytune.platform.sweep_config import SearchDim

matplotlib.use("Agg")


def test_a_narrow_learning_rate_range_gets_three_legible_labels_not_overprinted_minor_ones():
    space = {"sft.lr": SearchDim(loguniform=(1e-3, 4e-3)), "lora.r": SearchDim(choice=[8, 16])}
    rows = [TrialRow(f"t{i}", "TERMINATED", {"sft.lr": lr, "lora.r": r}, 0.1 * i, 1.0, 1.0)
            for i, (lr, r) in enumerate([(1.1e-3, 8), (2.5e-3, 16), (3.9e-3, 8)])]
    fig = params_figure(rows, space, "score")
    fig.canvas.draw()
    lr_axis = fig.axes[0].xaxis
    assert [t.get_text() for t in lr_axis.get_ticklabels()] == ["0.001", "0.002", "0.004"]
    assert not [t for t in lr_axis.get_minorticklabels() if t.get_text()]
    low, high = fig.axes[0].get_xlim()
    assert low <= 1.1e-3 and high >= 3.9e-3
