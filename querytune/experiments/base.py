"""The Task contract: everything task-specific, nothing else.

The platform (training, sweeps, evaluation, serving) talks to a task only through
this protocol, and finds tasks only through the registry below. Adding a task is one
folder under ``experiments/``, one line in ``_REGISTRY`` and its configs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import datasets

Example = dict[str, Any]
Messages = list[dict[str, str]]


class ParseError(ValueError):
    """A completion that does not follow the task's output language.

    ``position`` is a character offset (or line number, see ``reason``) into the text,
    ``reason`` a short stable code that metrics and reports group by.
    """

    def __init__(self, message: str, *, position: int | None = None, reason: str = "invalid"):
        super().__init__(message)
        self.position = position
        self.reason = reason


@dataclass
class Parsed:
    """A successfully parsed completion: the task's structured value plus notes."""

    value: Any
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Task(Protocol):
    """What the platform needs from a task: every member below, and nothing the platform reads
    is left out of it (``get_task`` refuses a task that lacks one, naming it).

    ``score`` returns per-example metrics; its ``score`` key is the headline number
    (higher is better, 0..1) that sweeps optimise and reports lead with.
    """

    name: str
    #: metric name -> True if higher is better; every key ``score`` may return.
    metrics: dict[str, bool]
    #: bumped whenever a score can change, so that scores of different versions are never compared;
    #: every eval summary records it.
    scorer_version: int

    def messages(self, example: Example) -> Messages: ...

    def target(self, example: Example) -> str: ...

    def parse(self, text: str) -> Parsed: ...

    def score(self, example: Example, completion: str) -> dict[str, float]: ...

    def reward(self, prompts: list, completions: list, **columns: Any) -> list[float]: ...

    def generate(self, n: int, seed: int, **options: Any) -> "datasets.Dataset": ...

    def dev(self) -> list[Example]: ...  # the hand-written dev set, gold where the task has one

    def grammar(self, syntax: str = "lark") -> str | None: ...  # 'lark' (llguidance) or 'gbnf' (xgrammar)

    def choose(self, example: Example, completions: list[str]) -> int: ...  # best-of-N: the best one's index, no gold

    def stats(self, dataset: "datasets.Dataset") -> dict[str, Any]: ...  # a split's summary (`querytune data build`)


#: the members every task has (``get_task`` checks them): the protocol's attributes and methods
TASK_MEMBERS = frozenset(Task.__annotations__) | {name for name, value in vars(Task).items()
                                                   if callable(value) and not name.startswith("_")}


# name -> "module:attribute"; imported lazily so that `querytune --help` stays light.
_REGISTRY: dict[str, str] = {
    "sourcegraph": "querytune.experiments.sourcegraph.task:SourcegraphTask",
    "qmd": "querytune.experiments.qmd.task:QMDTask",
}


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """Instantiate a task by registry name, or by ``module:Class`` path (plug-in tasks, tests).

    A path travels to Ray workers inside the config, where a driver-side registration
    would not.
    """
    target = _REGISTRY.get(name) or (name if ":" in name else None)
    if target is None:
        raise KeyError(f"unknown task {name!r}: known tasks are {', '.join(list_tasks())} "
                       "(or give a 'module:Class' path)")
    module_name, attr = target.split(":")
    try:
        task = getattr(importlib.import_module(module_name), attr)()
    except (ImportError, AttributeError) as err:
        raise KeyError(f"task {name!r}: cannot import {target} ({err})") from None
    missing = sorted(member for member in TASK_MEMBERS if not hasattr(task, member))
    if missing:
        raise KeyError(f"task {name!r}: {target} lacks {', '.join(missing)} of the Task protocol "
                       "(experiments/base.py); add them")
    return task


class GoldError(ValueError):
    """The example's gold answer cannot be scored (it does not parse): an eval counts the row as an error."""
