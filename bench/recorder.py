"""A run's RunRecord (bench.record) through training, in one place: made when the run starts (new_record), its task's
fields once the task is built (record_task), its outcome (finish_record, record_diverged, record_failed, last_result)
and what every record gets whatever the outcome (close_record). bench.runner's one training path fills it, for a
single run and for each run of a fused group alike; the store writes it."""

from __future__ import annotations

import datetime as dt
import math
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import rnnbench.bench as bench
from rnnbench.bench.guard import Diverged
from rnnbench.bench.config import RunConfig
from rnnbench.bench.record import RECORD_VERSION, RunRecord
from rnnbench.tasks import METRICS, TASKS, Task, TaskSpec
from rnnbench.tasks.base import EVAL_SEED


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of rnnbench's own checkout (once per process), see commit_of."""
    return commit_of(Path(bench.__file__).parent)


def commit_of(folder: Path) -> str | None:
    """The HEAD commit of the git checkout holding `folder`, with "-dirty" where its tracked files differ from it
    (the runs' code or suites may not be that commit's), or None outside a checkout or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "") if head else None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    import lightning
    import torch
    import torchmetrics

    return {
        "rnnbench": bench.__version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "python": platform.python_version(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),  # float32 rounds differently with AVX2 and AVX512
    }


def new_record(cfg: RunConfig, suite: str) -> RunRecord:
    """The record of a run about to start: what it trains, `failed` until it finishes, nothing measured yet."""
    return RunRecord(
        record_version=RECORD_VERSION,
        run_id=cfg.run_id,
        suite=suite,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        config=cfg.to_dict(),
        task=cfg.task,
        task_label=cfg.task_label,
        length_param=TASKS.get(cfg.task).length_param,
        remedies=cfg.remedies,
        combo=cfg.combo,
        tuning=cfg.tuning,
        status="failed",
        error=None,
        diverged_at_step=None,
        seeds={"run": cfg.seed, **cfg.seeds, "eval": EVAL_SEED},
        metrics={},
        normalized_score=None,
        best_step=None,
        last=None,
        model_size=None,
        val_metrics={},
        val_score=None,
        steps_trained=0,
        wall_seconds=None,
        history=[],
        grad={"probe": {}},
        versions=versions(),
        git_commit=git_commit(),
        device=None,
        world_size=1,
    )


def record_task(record: RunRecord, task: Task, spec: TaskSpec) -> None:
    """The built task's fields: its primary metric and direction, memoryless baselines, references, data digest and
    version."""
    record.primary_metric = spec.primary
    record.higher_is_better = METRICS[spec.primary].higher_is_better
    record.baseline = spec.baselines
    record.reference = {m: spec.reference(m) for m in spec.metrics}
    record.task_data = spec.data_digest
    record.versions["task_version"] = task.version


def finish_record(record: RunRecord, spec: TaskSpec, test_results: dict, best_step: int | None,
                  diverged: Diverged | None = None, validated: dict[str, float] | None = None) -> None:
    """The best checkpoint's test metrics (without `loss`), its step and normalized score; status ok, or diverged
    where training diverged after it (`diverged`: raised again by the caller, it keeps the step it diverged at).
    `validated`: the best checkpoint's validation metrics, recorded with their score (`val_metrics`, `val_score`:
    what the leaderboard's tuning protocol chooses an optimizer setting on; test metrics never choose).
    Raises Diverged where a test metric is not finite: the best weights' outputs overflow on the test data (for a
    run that diverged in training, that divergence, its metrics left empty)."""
    metrics = {k: v for k, v in test_results.items() if k != "loss"}
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise diverged or Diverged(best_step, f"test {name} (the best weights, validated)")
    if validated is not None:
        val_metrics = {k: v for k, v in validated.items() if k != "loss"}
        val_score = spec.score(val_metrics[spec.primary])
        record.val_metrics = val_metrics
        record.val_score = val_score if math.isfinite(val_score) else None
    record.status = "ok" if diverged is None else "diverged"
    record.metrics = metrics
    record.best_step = best_step
    record.normalized_score = spec.score(metrics[spec.primary])


def last_result(spec: TaskSpec, test_results: dict, step: int) -> dict:
    """The last weights' test metrics and normalized score at `step` (reported beside the best checkpoint's;
    null where not finite: the last weights may overflow where the best did not)."""
    metrics = {k: (v if math.isfinite(v) else None) for k, v in test_results.items() if k != "loss"}
    value = metrics[spec.primary]
    score = None if value is None else spec.score(value)
    return {"step": step, "metrics": metrics, "normalized_score": score}


def record_diverged(record: RunRecord, err: Diverged) -> None:
    record.status, record.error, record.diverged_at_step = "diverged", str(err), err.step


def record_failed(record: RunRecord, err: BaseException) -> None:
    record.status, record.error = "failed", f"{type(err).__name__}: {err}".splitlines()[0][:500]


def close_record(record: RunRecord, steps: int, history: list, grad_stats: dict, wall_seconds: float) -> None:
    """What every record gets whatever the outcome: steps trained, validation history, gradient statistics
    (bench.guard.RunState.stats()'s keys but `steps`) and the wall time."""
    record.steps_trained = steps
    record.history = history
    record.grad.update({k: v for k, v in grad_stats.items() if k != "steps"})
    record.wall_seconds = round(wall_seconds, 3)
