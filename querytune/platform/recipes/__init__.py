"""Training recipes by name: what a train config's ``recipe:`` runs.

A flat table, one hop from name to file (as torchtune's recipe registry): ``launch`` (``querytune
train``), ``sweep`` (each trial) and the demo (through both) look a recipe up here and never
import a recipe module by name. Each recipe is one file, read top to bottom (``sft.py``,
``grpo.py``); the worker glue they share is ``common.py``. A new recipe is one file, one entry
here and one config model in ``platform/config.py`` (``RECIPE_CONFIGS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from querytune.platform.recipes import grpo, sft


@dataclass(frozen=True)
class Recipe:
    """One training method, as the driver sees it."""

    loop: Callable[[dict], None]  # the Ray Train worker entry point (train_loop_config -> None)
    check: Callable[[Any], Any] | None  # on the driver before any worker starts; raises naming the problem
    progress: str  # the report key that counts a run's progress: ASHA's time attribute, the leaderboard's x
    best_name: str  # registry name of a sweep's best adapter, ``{task}`` filled in


RECIPES: dict[str, Recipe] = {
    "sft": Recipe(sft.train_loop, check=None, progress="epoch", best_name="{task}-best"),
    "grpo": Recipe(grpo.train_loop, check=grpo.open_parent, progress="step", best_name="{task}-grpo-best"),
}
