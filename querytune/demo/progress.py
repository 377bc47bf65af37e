"""Live progress of a demo run (each stage's state, time and budget; the ETA) and the run's record."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


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


def record(result: DemoRun, progress: Progress) -> None:
    """Copy each stage's state and time, and the total so far, into the run's record."""
    result.seconds = time.monotonic() - progress.began
    result.stages = [{"name": s.name, "status": s.status, "seconds": s.seconds, "budget_s": s.budget_s,
                      "note": s.note} for s in progress.stages]
