"""Self-contained HTML reports: tables and matplotlib figures embedded as PNG.

One file a person can open anywhere (no server, no external assets). Each figure is
also written beside the HTML as a PNG so tests and other tools can check it.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d232a;\
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}\
td,th{border:1px solid #dde;padding:.3rem .6rem;text-align:left}
th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}\
code,pre{background:#f6f8fa;padding:.1rem .3rem;border-radius:3px}
pre{padding:.6rem;overflow-x:auto;white-space:pre-wrap}.muted{color:#6a737d;font-size:.85rem}
"""


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cell_html(text: str) -> str:
    """Escaped text whose line breaks survive (a qmd answer is one ``lex:``/``vec:``/``hyde:`` line each).

    >>> cell_html("lex: a & b\\nvec: c")
    'lex: a &amp; b<br>vec: c'
    """
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def table_html(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{fmt(c)}</td>' if isinstance(c, (int, float)) else
                        f"<td>{cell_html(fmt(c))}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


@dataclass
class Report:
    """Collects sections, then writes ``<folder>/report.html`` plus one PNG per figure."""

    title: str
    sections: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def heading(self, text: str) -> None:
        self.sections.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str, muted: bool = False) -> None:
        cls = ' class="muted"' if muted else ""
        self.sections.append(f"<p{cls}>{html.escape(text)}</p>")

    def code(self, text: str) -> None:
        self.sections.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.sections.append(table_html(header, rows))

    def links(self, items: Iterable[tuple[str, str]]) -> None:
        """A list of (label, href) links; an href relative to the report's folder survives moving it."""
        entries = "".join(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a> '
                          f'<span class="muted">{html.escape(href)}</span></li>' for label, href in items)
        self.sections.append(f"<ul>{entries}</ul>")

    def figure(self, name: str, fig, caption: str = "") -> None:
        """Embed a matplotlib figure; ``name`` becomes ``<name>.png`` beside the report."""
        png = figure_png(fig)
        self.figures[f"{name}.png"] = png
        data = base64.b64encode(png).decode()
        self.sections.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}" '
                             f'data-file="{html.escape(name)}.png"><figcaption class="muted">'
                             f"{html.escape(caption)}</figcaption></figure>")

    def write(self, folder: str | Path, filename: str = "report.html") -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, png in self.figures.items():
            (folder / name).write_bytes(png)
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"
                f"{''.join(self.sections)}</body></html>")
        path = folder / filename
        path.write_text(page, encoding="utf-8")
        return path


def new_figure(width: float = 6.5, height: float = 3.6):
    """A (fig, ax) pair on the non-interactive backend (reports are written headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def ci_bars_figure(labels: Sequence[str], series: dict[str, Sequence[tuple[float, float, float]]], *,
                   xlabel: str = "", zero_line: bool = False, xlim: tuple[float, float] | None = None):
    """Horizontal bars of (mean, low, high) per label, one colour per series, CI as error bars.

    One series draws a metric table; several draw runs side by side; ``zero_line`` marks
    "no difference" for paired differences.
    """
    import numpy as np

    fig, ax = new_figure(6.5, max(2.0, 0.45 * len(labels) * max(1, len(series)) ** 0.5 + 1.0))
    height = 0.8 / len(series)
    positions = np.arange(len(labels))
    for i, (name, points) in enumerate(series.items()):
        means = np.array([p[0] for p in points], dtype=float)
        errors = np.abs(np.array([[m - p[1] for m, p in zip(means, points)],
                                  [p[2] - m for m, p in zip(means, points)]], dtype=float))
        ax.barh(positions + (i - (len(series) - 1) / 2) * height, means, height=height, xerr=errors,
                capsize=3, label=name)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if zero_line:
        ax.axvline(0, color="#444", linewidth=1)
    if xlim:
        ax.set_xlim(*xlim)
    if len(series) > 1:
        ax.legend(fontsize="small")
    return fig


def histogram_figure(values: Sequence[float], marks: dict[str, float] | None = None, *, xlabel: str = "",
                     bins: int = 30, floor: float | None = None):
    """A histogram with labelled vertical lines (e.g. latency p50/p95/p99).

    The x axis spans the values and the marks, padded by 5%; ``floor`` (0 for latencies)
    is a value the data cannot go below, so the axis does not either. Values that are all
    equal get one narrow bar (matplotlib alone draws them on a range of ±0.5 around it).
    """
    import numpy as np

    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    marks = {k: v for k, v in (marks or {}).items() if np.isfinite(v)}
    shown = np.concatenate([data, list(marks.values())])
    low, high = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)
    pad = 0.05 * (high - low) or max(0.05 * abs(high), 1e-3)
    low, high = low - pad, high + pad
    if floor is not None:
        low = max(low, floor)
    fig, ax = new_figure()
    if data.size:
        if data.min() == data.max():  # all equal: one bar, 5% of the axis wide
            edges = data[0] + np.array([-0.025, 0.025]) * (high - low)
        else:
            edges = np.linspace(data.min(), data.max(), bins + 1)
        ax.hist(data, bins=edges, color="#6a8cc7")
    for i, (name, value) in enumerate(marks.items()):
        ax.axvline(value, color=f"C{i + 1}", linestyle="--", label=f"{name} {value:.3g}")
    ax.set_xlim(low, high)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    if marks:
        ax.legend(fontsize="small")
    return fig
