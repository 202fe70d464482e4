"""`rnnbench perf` part 5, memory: VmRSS / VmHWM of one worker process (run_grid's own pool and run_one) after
many tiny runs against after one (a worker trains hundreds of runs in a sweep: nothing may accumulate)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from rnnbench.bench.config import RunConfig
from rnnbench.bench.grid import expand
from rnnbench.bench.launch import make_pool
from rnnbench.bench.speed.timing import Row
from rnnbench.bench.suite import load_suite
from rnnbench.bench.worker import LaunchOptions, run_one


def tiny_runs(n: int) -> list[RunConfig]:
    tiny = yaml.safe_load("""
        name: tiny
        tasks: {adding: {seq_len: 10, train_size: 64, val_size: 32, test_size: 32},
                copy: {delay: 3, train_size: 64, val_size: 32, test_size: 32}}
        axes: [{cell: [rnn, lstm, gru]}, {cell: [rnn], activation: [relu, leaky_relu], skip: [temporal]}]
        model: {hidden_size: 16, skip_k: 3}
        budget: {max_steps: 4, batch_size: 16, eval_every: 2, probe_batch: 4}
    """)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(tiny, f)
        f.flush()
        grid = expand(load_suite(f.name), seeds=n // 10 + 1)
    return sorted(grid, key=lambda r: r.seed)[:n]  # every combination, then again with the next seed


def memory_kib(status: str) -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def memory_growth(quick: bool) -> list[Row]:
    n = 10 if quick else 50
    read_status = Path("/proc/self/status").read_text  # runs in the worker
    with tempfile.TemporaryDirectory() as out:
        opts = LaunchOptions(out_dir=Path(out), suite="tiny", workers=1, quiet=True)
        pool: ProcessPoolExecutor = make_pool(opts)
        try:
            samples = {}
            for i, cfg in enumerate(tiny_runs(n), 1):
                summary = pool.submit(run_one, cfg.to_dict(), opts).result()
                assert summary["status"] != "failed", summary["error"]
                if i in (1, n):
                    samples[i] = memory_kib(pool.submit(read_status).result())
        finally:
            pool.shutdown()
    rows = []
    for key in ("VmRSS", "VmHWM"):
        first, last = samples[1][key], samples[n][key]
        rows.append(Row("5 memory", f"worker {key} after {n} tiny runs / after 1", last / first,
                        "<= 1.1" if n >= 50 else "info",  # the target is after 50 runs (--quick: 10)
                        f"{last / 1024:.0f} vs {first / 1024:.0f} MiB (one series, no repeats)"))
    return rows
