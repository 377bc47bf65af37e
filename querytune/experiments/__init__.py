"""Tasks: one folder each, found through the registry in ``base``."""
from querytune.experiments.base import Parsed, ParseError, Task, get_task, list_tasks

__all__ = ["Parsed", "ParseError", "Task", "get_task", "list_tasks"]
