"""The benchmark's tasks, one file each, registered by name in TASKS."""

from tasks.base import METRICS, TASKS, Task, TaskSpec, normalized_score
from tasks import adding, copy, delayed_recall, longrange_text, text  # noqa: F401  (registers them)

__all__ = ["METRICS", "TASKS", "Task", "TaskDataModule", "TaskSpec", "normalized_score"]


def __getattr__(name: str):
    """TaskDataModule on first use (tasks.data imports Lightning)."""
    if name == "TaskDataModule":
        from tasks.data import TaskDataModule

        return TaskDataModule
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
