"""The Task contract: every task has each member the platform reads, and ``get_task`` refuses
one that lacks any, naming them (no attribute is probed for where it is used)."""
import pytest

from querytune.experiments import Task, get_task, list_tasks
from tests.toy import ToyTask

#: the toy task without two members, as a plug-in task written against an older protocol
Incomplete = type("Incomplete", (), {k: v for k, v in vars(ToyTask).items() if k not in ("choose", "scorer_version")})


@pytest.mark.parametrize("name", [*list_tasks(), "tests.toy:ToyTask"])
def test_every_task_has_what_the_platform_reads(name):
    task = get_task(name)
    assert isinstance(task, Task) and isinstance(task.scorer_version, int) and task.scorer_version >= 1
    assert isinstance(task.stats(task.generate(8, seed=0)), dict)


def test_a_task_that_lacks_members_is_refused_naming_them():
    with pytest.raises(KeyError, match=r"lacks choose, scorer_version of the Task protocol"):
        get_task(f"{__name__}:Incomplete")
