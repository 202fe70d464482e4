"""Run a grid: long-lived worker processes (one run after another in each: bench.worker), resume, shards; the
progress lines: bench.progress."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queues
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from rnnbench.bench.config import RunConfig
from rnnbench.bench.progress import Progress
from rnnbench.bench.registry import ConfigError, check
from rnnbench.bench.store import ResultStore, WriteFailed, provenance
from rnnbench.bench.worker import LaunchOptions, init_worker, record_failure, run_group, setup_worker_numerics


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ConfigError(f"bad --shard {text!r}; expected i/n with 0 <= i < n, e.g. 0/4") from None
    check(n >= 1 and 0 <= i < n, f"bad --shard {text!r}; expected i/n with 0 <= i < n, e.g. 0/4")
    return i, n


def shard(runs: list[RunConfig], i: int, n: int) -> list[RunConfig]:
    """The runs whose id (a hex hash) is i modulo n: shards 0..n-1 cover the grid with no overlap and no gap, and a
    run's shard depends on the run alone, not on its place in the grid (which --tasks and --seeds change)."""
    return [r for r in runs if int(r.run_id, 16) % n == i]


def make_jobs(todo: list[RunConfig], opts: LaunchOptions) -> list[list[RunConfig]]:
    """The sweep's jobs: with opts.fuse, models.fusion.group_runs' groups (at most 8 runs, where fusing pays
    on this device), else one run each."""
    if not opts.fuse:
        return [[cfg] for cfg in todo]
    from rnnbench.bench.runner import device_type
    from rnnbench.models.fusion import group_runs

    return group_runs(todo, max_k=8, device=device_type(opts.accelerator))


# ---------------------------------------------------------------- sweep side
def run_grid(runs: list[RunConfig], opts: LaunchOptions) -> dict[str, int]:
    """Train every run whose result is not finished yet; returns counts by status (and `skipped`). Raises
    WriteFailed where a record cannot be written (a full disk): the sweep stops there, the workers killed."""
    store = ResultStore(opts.out_dir)
    store.clean()
    todo, kept = [], []
    for cfg in runs:
        if store.finished(cfg):
            kept.append(store.read(cfg.run_id))
        else:
            todo.append(cfg)
    skipped = len(runs) - len(todo)
    if not opts.quiet:
        print(f"{len(runs)} runs in the grid, {skipped} already finished, {len(todo)} to train "
              f"with {opts.workers or 'no'} worker process{'es' if opts.workers != 1 else ''}", flush=True)
        for line in provenance_notes(kept):
            print(line, flush=True)
    progress = Progress(len(todo), opts.quiet, opts.workers)
    try:
        if opts.workers == 0 and opts.launcher == "local":
            setup_worker_numerics(1)  # this process is the worker (also each DDP process)
            for job in make_jobs(todo, opts):
                for summary in run_group([cfg.to_dict() for cfg in job], opts):
                    progress.update(summary)
        else:
            LAUNCHERS[opts.launcher](todo, opts, progress, store)
    finally:
        progress.close()
    return {**progress.counts, "skipped": skipped}


def provenance_notes(kept: list[dict]) -> list[str]:
    """A line ("note: ...") for each way the finished records a sweep keeps may not be this installation's results:
    made by another rnnbench or torch version, or in a checkout with uncommitted changes, with counts
    (bench.store.provenance). Such records are kept, not trained again."""
    if not kept:
        return []
    from rnnbench.bench.recorder import versions

    return [f"note: {line}" for line in provenance(kept, here=versions())]


def make_pool(opts: LaunchOptions, started=None) -> ProcessPoolExecutor:
    ctx = mp.get_context("spawn")
    gpu_queue = None
    if opts.devices:
        gpu_queue = ctx.Queue()
        for i in range(opts.workers):
            gpu_queue.put(opts.devices[i % len(opts.devices)])
    return ProcessPoolExecutor(opts.workers, mp_context=ctx, initializer=init_worker,
                               initargs=(1, gpu_queue, os.getpid(), started))


class Watchdog:
    """--run-timeout: when each job started (its worker announces it on a queue), and which jobs ran past the limit
    (their workers get SIGKILL: a hung run, e.g. in a collective that never returns, cannot be asked to stop)."""

    def __init__(self, limit: float | None, clock=time.monotonic):
        self.limit, self.clock, self.queue = limit, clock, None
        self.starts: dict[str, tuple[int, float]] = {}  # a job's first run id -> (worker pid, start)
        self.killed: dict[str, float] = {}  # run id -> seconds it had run when killed

    def pool(self, opts: LaunchOptions) -> ProcessPoolExecutor:
        """A fresh pool with a fresh queue: a worker killed while writing to a queue can leave it locked."""
        if self.limit:
            self.queue, self.starts = mp.get_context("spawn").Queue(), {}
        return make_pool(opts, self.queue)

    def poll(self, jobs) -> set[str]:
        """Kill the workers of `jobs` (lists of RunConfig) that ran past the limit; the first run ids of those killed
        now (their pool breaks, whether or not a job finished just before its kill)."""
        if not self.limit:
            return set()
        while True:
            try:
                pid, run_id = self.queue.get_nowait()
            except queues.Empty:
                break
            self.starts[run_id] = (pid, self.clock())
        killed = set()
        for job in jobs:
            key = job[0].run_id
            if key in self.starts and key not in self.killed:
                pid, start = self.starts[key]
                if self.clock() - start > self.limit:
                    self.killed[key] = self.clock() - start
                    killed.add(key)
                    try:
                        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
                    except ProcessLookupError:  # it ended on its own meanwhile
                        pass
        return killed

    def timed_out(self, job) -> bool:
        return job[0].run_id in self.killed

    def error(self, job) -> TimeoutError:
        return TimeoutError(f"ran past --run-timeout {self.limit:g} s (killed after {self.killed[job[0].run_id]:.0f} s "
                            "with its worker)")

    def forget(self, job) -> None:
        """A job that finished or is put back: its next start is announced afresh."""
        self.starts.pop(job[0].run_id, None)
        self.killed.pop(job[0].run_id, None)


def _run_pool(todo: list[RunConfig], opts: LaunchOptions, progress: Progress, store: ResultStore) -> None:
    """Jobs through a pool of workers, up to 2 per worker in flight. A worker that dies (killed, out of memory)
    breaks the whole pool and every job in flight with it, so a death does not say whose job caused it: the jobs
    in flight become suspects, rerun one at a time in a fresh pool (the others wait); a suspect whose worker dies
    while it runs alone is recorded failed, the others train as if nothing happened. With opts.run_timeout, a job
    that runs past it has its worker killed (Watchdog) and is recorded failed; the jobs in flight beside it, known
    innocent, go back to the front of the queue. When the last suspect has run alone, one line says how the death
    ended (Progress.recovery). A record that cannot be written (WriteFailed: a full disk) stops the sweep: the
    workers are killed (their runs could not write theirs either) and the error raised."""
    queue = list(reversed(make_jobs(todo, opts)))  # jobs: one run, or a fused group (opts.fuse)
    suspects: list[list[RunConfig]] = []  # in flight when a worker died
    deaths = {"suspects": 0, "recovered": 0, "failed": 0}  # runs of the jobs in flight at deaths not yet reported
    watchdog = Watchdog(opts.run_timeout)
    pool = watchdog.pool(opts)
    running = {}  # future -> (job, run alone?)

    def submit(job: list[RunConfig], alone: bool) -> None:
        running[pool.submit(run_group, [cfg.to_dict() for cfg in job], opts)] = (job, alone)

    try:
        while queue or suspects or running:
            gone = False  # the pool broke between two waits (a worker died): submit refuses
            try:
                if suspects and not running:
                    submit(suspects[-1], True)
                    suspects.pop()
                isolating = suspects or any(alone for _, alone in running.values())  # a suspect runs alone, to the end
                while not isolating and queue and len(running) < 2 * opts.workers:  # keep every worker fed, no more
                    submit(queue[-1], False)
                    queue.pop()
            except BrokenProcessPool:
                gone = True
            done, _ = wait(running, timeout=1.0 if opts.run_timeout else None, return_when=FIRST_COMPLETED)
            killed = watchdog.poll([job for future, (job, _) in running.items() if not future.done()])
            if killed or gone:  # the pool breaks, or broke: every job in flight ends with it (at once)
                done = set(done) | wait(running, timeout=60).done
            broken = bool(killed) or gone
            for future in done:
                job, alone = running.pop(future)
                try:
                    for summary in future.result():  # also a killed job that finished just before its kill
                        progress.update(summary)
                    watchdog.forget(job)
                    if alone:
                        deaths["recovered"] += len(job)
                except BrokenProcessPool:
                    broken = True
                    running[future] = (job, alone)  # handled with the other in-flight jobs below
                except WriteFailed:
                    raise
                except Exception as err:  # noqa: BLE001 - recorded, the sweep goes on
                    for cfg in job:
                        progress.update(record_failure(cfg, opts, store, err))
            if broken:
                _kill_workers(pool)
                pool.shutdown(wait=False, cancel_futures=True)
                for job, alone in running.values():
                    if watchdog.timed_out(job):
                        for cfg in job:
                            progress.update(record_failure(cfg, opts, store, watchdog.error(job),
                                                            watchdog.killed[job[0].run_id]))
                    elif killed:  # the watchdog broke the pool: not this job's doing
                        queue.append(job)
                    elif not alone:
                        suspects.append(job)
                        deaths["suspects"] += len(job)
                    else:
                        died = RuntimeError("its worker process died (killed, or out of memory?), twice: once with "
                                            "other runs in flight, then running alone")
                        for cfg in job:
                            progress.update(record_failure(cfg, opts, store, died))
                        deaths["failed"] += len(job)
                    watchdog.forget(job)
                running.clear()
                pool = watchdog.pool(opts)
            if deaths["suspects"] and not suspects and not any(alone for _, alone in running.values()):
                progress.recovery(**deaths)
                deaths.update(suspects=0, recovered=0, failed=0)
    except WriteFailed:
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker of a broken pool: the pool's own SIGTERM waits for a worker to come back to Python, and
    one hung in native code (a CUDA call that never returns) would hold the sweep at exit."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _run_ray(todo: list[RunConfig], opts: LaunchOptions, progress: Progress, store: ResultStore) -> None:
    from rnnbench.bench.ray_launch import run_grid_ray  # imports ray only when asked for

    run_grid_ray(todo, opts, progress, store)


LAUNCHERS = {"local": _run_pool, "ray": _run_ray}
