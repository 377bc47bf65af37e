"""The sweep file's model: a train config, the search space over its keys, and the ASHA settings."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from querytune.platform.config import Strict, TrainConfig, check_key_path


class SearchDim(Strict):
    """One search dimension: exactly one of choice / loguniform / uniform / mult."""

    choice: list[Any] | None = Field(None, min_length=1, description="values tried as given")
    loguniform: tuple[float, float] | None = Field(None, description="(low, high), sampled on a log scale; low > 0")
    uniform: tuple[float, float] | None = Field(None, description="(low, high), sampled uniformly")
    mult: tuple[str, list[float]] | None = Field(None, description="(other key, factors): value = other x factor; "
                                                 "the searched value is the factor")

    @model_validator(mode="after")
    def _one_kind(self) -> "SearchDim":
        kinds = [k for k in ("choice", "loguniform", "uniform", "mult") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of choice/loguniform/uniform/mult, got {kinds or 'none'}")
        if self.loguniform and not 0 < self.loguniform[0] < self.loguniform[1]:
            raise ValueError(f"loguniform {list(self.loguniform)}: needs 0 < low < high, e.g. [5e-5, 1e-3]")
        if self.uniform and not self.uniform[0] < self.uniform[1]:
            raise ValueError(f"uniform {list(self.uniform)}: needs low < high, e.g. [0.0, 0.1]")
        if self.mult and not self.mult[1]:
            raise ValueError(f"mult ({self.mult[0]!r}, []): give at least one factor, e.g. [1, 2]")
        return self


class SweepSettings(Strict):
    num_samples: int = Field(8, ge=1, description="trials")
    max_concurrent_trials: int = Field(2, ge=1, description="trials at once; each takes train.scaling's "
                                       "resources plus a CPU for its driver")
    grace_period: int = Field(1, ge=1, description="ASHA: reports before a trial may be stopped")
    reduction_factor: int = Field(2, ge=2, description="ASHA: keep 1/reduction_factor per rung")
    metric: str = Field("val_score", description="what ASHA and the leaderboard rank by")
    mode: Literal["max", "min"] = Field("max", description="metric's direction; must be the task's own")
    max_failures: int = Field(1, ge=0, description="retries of a crashed trial")
    seed: int = Field(0, description="Optuna sampler seed")
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="trials run first, as {space key: value} (a known good baseline)")


class SweepConfig(Strict):
    """`querytune sweep CONFIG`: Ray Tune over the fields of a train config, trials of its recipe."""

    train: TrainConfig = Field(..., description="the train config every trial starts from (any recipe)")
    space: dict[str, SearchDim] = Field(default_factory=dict, description="dotted train config key -> dimension")
    sweep: SweepSettings = Field(default_factory=SweepSettings, description="trials, ASHA and the ranked metric")

    @model_validator(mode="after")
    def _space_keys_exist(self) -> "SweepConfig":
        recipe = type(self.train)
        for key, dim in self.space.items():
            for dotted in [key, *([dim.mult[0]] if dim.mult else [])]:
                section = dotted.split(".")[0]
                if section in recipe.ELSEWHERE:
                    raise ValueError(f"space key {dotted!r}: {recipe.ELSEWHERE[section]}")
                check_key_path(recipe, dotted)
            if dim.mult and dim.mult[0] in self.space and self.space[dim.mult[0]].mult:
                raise ValueError(f"space.{key}: mult of {dim.mult[0]!r}, itself a mult; point it at a "
                                 "searched or fixed key")
        for point in self.sweep.points_to_evaluate:
            if set(point) != set(self.space):
                raise ValueError(f"sweep.points_to_evaluate {point}: give exactly the space keys {sorted(self.space)}")
        return self
