"""The Ray launcher (`rnnbench run --launcher ray`, extra `rnnbench[ray]`): one Ray task per run, scheduled
dynamically over a local instance or an existing cluster, every task writing into the same result store.

OUT must be a path every Ray node sees (a shared file system), and every node needs the dependencies (torch,
lightning, ...) and rnnbench installed (e.g. `pip install -e` of a checkout on a shared path); the files of
`--include` must be on a path every node sees too.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from rnnbench.bench.config import RunConfig
from rnnbench.bench.plugins import ENV, load_all
from rnnbench.bench.progress import Progress
from rnnbench.bench.registry import ConfigError
from rnnbench.bench.store import ResultStore
from rnnbench.bench.worker import LaunchOptions, record_failure, run_one, setup_worker_numerics

MISSING = "--launcher ray needs the optional extra: pip install 'rnnbench[ray]'"


def check_ray(opts: LaunchOptions):
    """The ray module, or a one-line ConfigError (exit 2): the extra to install, or options Ray cannot honour."""
    try:
        import ray
    except ImportError:
        raise ConfigError(MISSING) from None
    if opts.strategy == "ddp":
        raise ConfigError("--strategy ddp runs on one machine; --launcher ray gives each run one GPU")
    return ray


def _task(cfg_dict: dict, opts: LaunchOptions) -> dict:
    """One run inside a Ray worker: the local workers' setup (1 intra-op thread, flush-to-zero; the flag is per
    thread, so set on every call), then the same run_one. Ray's num_gpus=1 leaves exactly one GPU visible."""
    setup_worker_numerics(1)
    load_all()  # the user's files (RNNBENCH_INCLUDE, passed in the runtime env) and installed plugins
    return run_one(cfg_dict, opts)


def _failure(err: BaseException) -> BaseException:
    """A task's own exception rather than Ray's wrapper, whose message is a multi-line traceback."""
    return getattr(err, "cause", None) or err


def run_grid_ray(todo: list[RunConfig], opts: LaunchOptions, progress: Progress, store: ResultStore) -> None:
    """Submit every run as one Ray task and record each as it completes (ray.wait), in any order. A task that
    raises, or whose worker dies twice (Ray retries a dead worker's task once), is recorded failed.
    Connects to opts.ray_address, else starts a local instance with opts.workers CPUs and shuts it down at the end."""
    ray = check_ray(opts)
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        # "local": a fresh instance, never a stray cluster found on this machine; no dashboard, to start fast
        local = {} if opts.ray_address else {"num_cpus": max(1, opts.workers), "include_dashboard": False}
        # workers import the installed rnnbench (on a cluster: installed on every node, e.g. `pip install -e` of a
        # checkout on a shared path)
        try:
            env = {ENV: os.environ[ENV]} if os.environ.get(ENV) else {}
            ray.init(address=opts.ray_address or "local", runtime_env={"env_vars": env},
                     log_to_driver=not opts.quiet, logging_level="WARNING", **local)
        except ConnectionError as err:
            raise ConfigError(f"--ray-address {opts.ray_address}: {err}".splitlines()[0]) from None
    try:
        gpu = opts.accelerator == "gpu" or (opts.accelerator == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        opts = replace(opts, out_dir=Path(opts.out_dir).resolve(), accelerator="gpu" if gpu else "cpu", devices=())
        remote = ray.remote(_task).options(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=1)
        pending = {remote.remote(cfg.to_dict(), opts): cfg for cfg in todo}  # Ray queues what cannot start yet
        refs = list(pending)
        while refs:
            [ref], refs = ray.wait(refs, num_returns=1)
            cfg = pending.pop(ref)
            try:
                progress.update(ray.get(ref))
            except Exception as err:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...: recorded, the sweep goes on
                progress.update(record_failure(cfg, opts, store, _failure(err)))
    finally:
        if started:
            ray.shutdown()
