"""Shared fixtures: a toy task, tiny models, one local Ray cluster per test session."""
from __future__ import annotations

import os

import pytest

TOY_TASK = "tests.toy:ToyTask"


@pytest.fixture(scope="session")
def tiny_model() -> str:
    """A random-weight 2-layer Qwen3 with the default tokenizer (built once, cached)."""
    from querytune.platform import models

    models.resolve("tiny-qwen3")
    return "tiny-qwen3"


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray cluster for the session.

    8 logical CPUs on 2 cores: two sweep trials (driver + worker each) fit at once, and a
    trial stopped by ASHA, whose CPU Ray frees only through the dashboard's clean-up actor
    (not started here), cannot starve the tests that come after it.
    """
    import ray

    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # the checkout first, then whatever the driver already imports from (a wheel bundle's site folder)
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    if not ray.is_initialized():
        ray.init(num_cpus=8, include_dashboard=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()
