"""The worker side of a sweep: what each worker process (or Ray task) runs. Set-up once per worker
(init_worker), then jobs of one or more runs (run_group), each run claimed in the store, trained by the runner
(or as one fused model), its record written, and a summary returned to the sweep process (bench.launch)."""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rnnbench.bench.config import RunConfig
from rnnbench.bench.store import ResultStore


@dataclass(frozen=True)
class LaunchOptions:
    out_dir: Path
    suite: str = "custom"
    workers: int = 1  # 0: run in this process (debugging)
    accelerator: str = "cpu"
    devices: tuple[int, ...] = ()  # GPU ids, one worker pinned to each
    strategy: str = "auto"  # "ddp": every run spans all `devices` (runs go one after another)
    wandb_project: str | None = None
    quiet: bool = False
    launcher: str = "local"  # a key of LAUNCHERS: "local" worker processes, "ray" tasks (bench.ray_launch)
    ray_address: str | None = None  # None: start a local Ray instance with `workers` CPUs
    fuse: bool = False  # train groups of runs that share a cell and shape as one stacked model (models.fused)
    run_timeout: float | None = None  # seconds: a job still training after this is killed with its worker, failed
    save_checkpoints: bool = False  # keep each run's best weights in runs/<run_id>/best.pt (bench.prepare.save_best)
    loggers: tuple[str, ...] = ()  # Lightning's file loggers per run, beside W&B (bench.prepare.FILE_LOGGERS)
    swept: tuple[str, ...] = ()  # the fields the grid sweeps (bench.grid.swept_fields), shown in W&B's names


_WORKER: dict = {}


def _watch_parent(parent: int) -> None:
    """A worker whose sweep process died (even by SIGKILL) exits instead of running on as an orphan."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.5)


def setup_worker_numerics(threads: int) -> None:
    """`threads` intra-op threads with flush-to-zero (denormals from vanishing gradients and Adam's second
    moments are slow on CPUs, and the flag is per thread: call it from the thread that trains), and full float32 in
    cuDNN (torch allows TF32 there by default, not in matmuls: a GPU's cuDNN runs would compute at another precision
    than the same remedy's loop, recurrence or fused-group runs)."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.backends.cudnn.allow_tf32 = False


def init_worker(threads: int, gpu_queue, parent: int, started=None) -> None:
    """Once per worker: setup_worker_numerics, the user's plugins, the worker's own GPU, and exit when the sweep
    process dies.
    `started`: a queue on which each job announces (this worker's pid, the job's first run id) as it starts
    (the sweep process times jobs against --run-timeout from there)."""
    import torch

    from rnnbench.bench.plugins import load_all

    setup_worker_numerics(threads)
    load_all()  # the user's cells and tasks (RNNBENCH_INCLUDE, inherited; installed plugins) before any config
    if gpu_queue is not None:
        _WORKER["gpu"] = gpu_queue.get()
        torch.cuda.set_device(_WORKER["gpu"])
    if started is not None:
        _WORKER["started"] = started
    # A broken pool (a worker killed) SIGTERMs the others. Lightning's handler inside fit() only notes a SIGTERM, so
    # such a worker trained on: the next job of the dead pool's queue (which the new pool trains too, into the same
    # folder), and the sweep process waited on it at exit. Lightning calls a handler found in place after its own.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _exit_on_sigterm(signum, frame) -> None:
    os._exit(128 + signum)


def run_one(cfg_dict: dict, opts: LaunchOptions) -> dict:
    from rnnbench.bench.runner import execute

    cfg = RunConfig.from_dict(cfg_dict)
    if opts.strategy == "ddp":
        devices = len(opts.devices) if opts.accelerator == "cpu" else list(opts.devices)
    else:
        devices = _devices(opts)
    record = execute(cfg, opts.out_dir, opts.suite, opts.wandb_project, opts.accelerator, devices, opts.strategy,
                     save_checkpoint=opts.save_checkpoints, loggers=opts.loggers, swept=opts.swept)
    return summarize(record)


def _devices(opts: LaunchOptions):
    return [_WORKER["gpu"]] if "gpu" in _WORKER else 1


def run_group(cfg_dicts: list[dict], opts: LaunchOptions) -> list[dict]:
    """One job of a fused sweep: a group of one through run_one (execute), a larger group through
    bench.runner.execute_fused as one stacked model, in this worker process."""
    if "started" in _WORKER:
        importlib.import_module("rnnbench.bench.runner")  # importing Lightning (seconds, a worker's first job) is not the job's

        _WORKER["started"].put((os.getpid(), RunConfig.from_dict(cfg_dicts[0]).run_id))
    configs = [RunConfig.from_dict(d) for d in cfg_dicts]
    if opts.strategy == "ddp":  # every process trains the same run: no claims between them
        return _train(configs, opts)
    store = ResultStore(opts.out_dir)
    with store.claim([c.run_id for c in configs]) as held:
        # another sweep sharing --out trains a run it holds, or trained one since this sweep listed its runs
        mine = [c for c in configs if c.run_id in held and not store.finished(c)]
        elsewhere = [elsewhere_summary(c) for c in configs if c not in mine]
        return elsewhere + (_train(mine, opts) if mine else [])


def _train(configs: list[RunConfig], opts: LaunchOptions) -> list[dict]:
    """A job's runs trained in this process: one through run_one (execute), more as one fused model."""
    if len(configs) == 1:
        return [run_one(configs[0].to_dict(), opts)]
    from rnnbench.bench.runner import execute_fused

    records = execute_fused(configs, opts.out_dir, opts.suite, opts.accelerator, _devices(opts),
                            save_checkpoints=opts.save_checkpoints)
    return [summarize(r) for r in records]


def elsewhere_summary(cfg: RunConfig) -> dict:
    """The progress line's summary of a run another sweep sharing --out trains or trained (status `elsewhere`)."""
    return {"run_id": cfg.run_id, "status": "elsewhere", "normalized_score": None, "wall_seconds": 0.0,
            "error": None, "task_label": cfg.task_label, "combo": cfg.combo, "tuning": cfg.tuning}


def summarize(record: dict) -> dict:
    """What the sweep process needs of a finished run's record (for the progress line)."""
    keys = ("run_id", "status", "normalized_score", "wall_seconds", "error", "task_label", "combo")
    return {k: record[k] for k in keys} | {"wall_seconds": record["wall_seconds"] or 0.0,
                                           "tuning": record.get("tuning")}


def record_failure(cfg: RunConfig, opts: LaunchOptions, store: ResultStore, err: BaseException,
                    wall_seconds: float | None = None) -> dict:
    from rnnbench.bench.recorder import new_record, record_failed

    record = new_record(cfg, opts.suite)
    record_failed(record, err)
    if wall_seconds is not None:
        record.wall_seconds = round(wall_seconds, 3)
    return summarize(store.write(record))  # another sweep's finished record stands (ResultStore.write)
