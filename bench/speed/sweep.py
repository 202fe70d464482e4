"""`rnnbench perf` part 3, sweep efficiency: on a subset of the quick suite, one long-lived worker (the sweep's
pool) against one `rnnbench run` process per run, alternated run by run; the time inside train/val/test batches over
execute()'s wall time in the worker; and the ratio projected to the whole quick suite."""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import lightning as L
import yaml

import rnnbench.bench.runner as runner
from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import make_pool
from rnnbench.bench.speed.timing import Row
from rnnbench.bench.suite import load_suite
from rnnbench.bench.worker import LaunchOptions
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import SyntheticSizes


class StepTime(L.Callback):
    """Sums the time spent inside training, validation and test batches (batch start to batch end)."""

    def __init__(self):
        self.inside, self.start = 0.0, None

    def _start(self, *args, **kwargs):
        self.start = time.perf_counter()

    def _end(self, *args, **kwargs):
        self.inside += time.perf_counter() - self.start

    on_train_batch_start = on_validation_batch_start = on_test_batch_start = _start
    on_train_batch_end = on_validation_batch_end = on_test_batch_end = _end


def sweep_subset(n: int) -> list[RunConfig]:
    """n runs of the quick suite: its synthetic tasks in turn (text needs its corpus downloaded), each with a
    remedy combination from a different part of the grid."""
    runs = [r for r in expand(load_suite("quick")) if issubclass(TASKS.get(r.task), SyntheticSizes)]
    tasks = list(dict.fromkeys(r.task_label for r in runs))
    combos = list(dict.fromkeys(r.combo for r in runs))
    picks = [(tasks[i % len(tasks)], combos[(2 * i + 1) * len(combos) // (2 * n)]) for i in range(n)]
    return [next(r for r in runs if (r.task_label, r.combo) == pick) for pick in picks]


def one_run_suite(cfg: RunConfig, path: Path) -> None:
    """A suite YAML whose grid is exactly `cfg`."""
    suite = {
        "name": "quick",
        "tasks": {cfg.task: cfg.build_task().params()},
        "axes": {axis: [level] for axis, level in cfg.remedies.items()},
        "seeds": 1,
        "model": {k: v for k, v in dataclasses.asdict(cfg.model).items() if k not in cfg.remedies},
        "budget": dataclasses.asdict(cfg.budget),
    }
    path.write_text(yaml.safe_dump(suite))
    assert [r.run_id for r in expand(load_suite(str(path)))] == [cfg.run_id], "one-run suite differs from the run"


def timed_run(cfg_dict: dict, out: str) -> tuple[float, float, str, str | None]:
    """One run in a pool worker exactly as a sweep's worker trains it (runner.execute), with StepTime:
    (execute()'s wall seconds, seconds inside train/val/test batches, status, error)."""
    timer = StepTime()
    record = runner.execute(RunConfig.from_dict(cfg_dict), out, "quick", callbacks=(timer,))
    return record["wall_seconds"], timer.inside, record["status"], record["error"]


def worker_ready() -> None:
    """Nothing: a worker that runs it has unpickled it, so imported this module and with it bench.runner and
    Lightning, what a sweep's worker pays once before its first run."""


def sweep_efficiency(quick: bool) -> list[Row]:
    """One long-lived worker (the sweep's pool: run_one's path, plus the in-batch timer) against one
    `rnnbench run` process per run, the two alternated run by run (run i in the worker, then run i as a
    process), so load from other processes falls on both; the worker's start-up (spawn, importing Lightning) is
    timed on its own first. Every row reads times of these same executions."""
    runs = sweep_subset(2 if quick else 4)
    labels = "; ".join(f"{r.task} {r.combo}" for r in runs)
    pool_walls, execute_walls, inside, process_walls = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        opts = LaunchOptions(out_dir=Path(tmp) / "pool", suite="quick", workers=1, quiet=True)
        start = time.perf_counter()
        pool: ProcessPoolExecutor = make_pool(opts)
        try:
            pool.submit(worker_ready).result()
            start_up = time.perf_counter() - start
            for i, cfg in enumerate(runs):
                start = time.perf_counter()
                wall, in_batches, status, error = pool.submit(timed_run, cfg.to_dict(), str(opts.out_dir)).result()
                pool_walls.append(time.perf_counter() - start)
                assert status != "failed", error
                execute_walls.append(wall)
                inside.append(in_batches)
                suite = Path(tmp) / f"run{i}.yaml"
                one_run_suite(cfg, suite)
                command = [sys.executable, "-m", "rnnbench.bench", "run", "--suite", str(suite), "--out", str(Path(tmp) / "out"),
                           "--quiet", "--no-leaderboard"]  # default --workers: one pool worker in each process
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).parents[2])
                process_walls.append(time.perf_counter() - start)
        finally:
            pool.shutdown()
    n, per_run = len(runs), [i / w for i, w in zip(inside, execute_walls)]
    rows = [Row("3 sweep", f"time in train/val/test batches / execute() wall, {n} quick runs in a worker",
                sum(inside) / sum(execute_walls), ">= 0.8",
                f"{sum(inside):.1f} of {sum(execute_walls):.1f} s; per run median {statistics.median(per_run):.2f} "
                f"(min {min(per_run):.2f}); runs: {labels}")]
    worker = start_up + sum(pool_walls)
    rows.append(Row("3 sweep", f"{n} runs, one `rnnbench run` process each / one worker (alternated)",
                    sum(process_walls) / worker, "info",
                    f"{sum(process_walls):.1f} vs {worker:.1f} s ({start_up:.1f} s of it the worker's start-up); per "
                    f"run median {statistics.median(process_walls):.2f} vs {statistics.median(pool_walls):.2f} s"))
    suite_runs = len(expand(load_suite("quick")))
    # the worker's first run carries its one-off costs (first Trainer, first kernels): once in a sweep, not per run;
    # medians: a run that met a load spike from another process stands for none of the suite's 125
    process, first, pooled = statistics.median(process_walls), pool_walls[0], statistics.median(pool_walls[1:])
    rows.append(Row("3 sweep", f"  projected to the whole quick suite ({suite_runs} runs): one process each / one worker",
                    suite_runs * process / (start_up + first + (suite_runs - 1) * pooled), ">= 10",
                    f"{suite_runs} x {process:.2f} s vs {start_up:.1f} s worker start-up + its first run {first:.2f} s "
                    f"+ {suite_runs - 1} x {pooled:.2f} s"))
    outside_process = sum(w - i for w, i in zip(process_walls, inside))
    outside_pool = start_up + sum(w - i for w, i in zip(pool_walls, inside))
    rows.append(Row("3 sweep", "same, time outside the batches only (each run's in-batch time from its worker run)",
                    outside_process / outside_pool, "info",
                    f"{outside_process / n:.2f} vs {outside_pool / n:.2f} s per run (the worker's start-up included)"))
    return rows
