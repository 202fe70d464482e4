"""The benchmark's tasks, one file each, registered by name in TASKS."""

from rnnbench.tasks.base import METRICS, TASKS, Task, TaskSpec, normalized_score
from rnnbench.tasks import adding, copy, delayed_recall, longrange_text, text  # noqa: F401  (registers them)

__all__ = ["METRICS", "TASKS", "Task", "TaskDataModule", "TaskSpec", "normalized_score"]


def __getattr__(name: str):
    """TaskDataModule on first use (tasks.data imports Lightning)."""
    if name == "TaskDataModule":
        from rnnbench.tasks.data import TaskDataModule

        return TaskDataModule
    raise AttributeError(f"module 'rnnbench.tasks' has no attribute {name!r}")
